from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from kazi.admin_mixins import ReadOnlyMoneyAdmin
from mpesa.models import MpesaReversal, ProviderCallback, StkPushRequest


class OutcomeFilter(admin.SimpleListFilter):
    """Every callback ends with an outcome; one without is a process that died mid-way."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("none", "Callbacks without outcome"),
            ("rejected", "Rejected"),
            ("error", "Failed while processing"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "none":
                return queryset.filter(outcome="")
            case "rejected":
                return queryset.filter(outcome__startswith="rejected")
            case "error":
                return queryset.filter(outcome__startswith="error")
        return queryset


@admin.register(ProviderCallback)
class ProviderCallbackAdmin(ReadOnlyMoneyAdmin):
    list_display = ["id", "kind", "remote_addr", "outcome", "received_at"]
    list_filter = [OutcomeFilter, "kind", "received_at"]
    search_fields = ["body", "outcome"]


@admin.register(StkPushRequest)
class StkPushRequestAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "checkout_request_id",
        "escrow_contract",
        "phone_number",
        "amount",
        "status",
        "result_code",
        "created_at",
    ]
    list_filter = ["status", "result_code", "created_at"]
    search_fields = ["checkout_request_id", "escrow_contract__contract_id", "phone_number"]


@admin.register(MpesaReversal)
class MpesaReversalAdmin(ReadOnlyMoneyAdmin):
    list_display = ["deposit", "amount", "status", "conversation_id", "result_code", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["deposit__transaction_reference", "conversation_id"]
