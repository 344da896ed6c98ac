from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from kazi.admin_mixins import ReadOnlyMoneyAdmin
from payments.models import MobileMoneyPayout, MpesaDeposit, ProviderCallback


class UnmatchedFilter(admin.SimpleListFilter):
    title = "matched to an escrow"
    parameter_name = "matched"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("no", "Unmatched"), ("surplus", "With surplus owed back"), ("yes", "Matched")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "no":
                return queryset.filter(escrow_contract__isnull=True)
            case "surplus":
                return queryset.filter(surplus_amount__gt=0)
            case "yes":
                return queryset.filter(escrow_contract__isnull=False)
        return queryset


@admin.register(MpesaDeposit)
class MpesaDepositAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "transaction_reference",
        "bill_ref_number",
        "escrow_contract",
        "amount",
        "credited_amount",
        "surplus_amount",
        "status",
        "created_at",
    ]
    list_filter = [UnmatchedFilter, "status", "created_at"]
    search_fields = ["transaction_reference", "bill_ref_number", "escrow_contract__contract_id"]


@admin.register(MobileMoneyPayout)
class MobileMoneyPayoutAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "reference",
        "employee",
        "phone_number",
        "amount",
        "status",
        "transaction_reference",
        "attempts",
        "updated_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = [
        "reference",
        "transaction_reference",
        "phone_number",
        "escrow_contract__contract_id",
    ]


@admin.register(ProviderCallback)
class ProviderCallbackAdmin(ReadOnlyMoneyAdmin):
    list_display = ["id", "kind", "remote_addr", "outcome", "received_at"]
    list_filter = ["kind", "received_at"]
    search_fields = ["body", "outcome"]
