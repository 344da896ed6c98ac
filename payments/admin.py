from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kazi.admin_mixins import ReadOnlyMoneyAdmin
from kazi.errors import Conflict
from payments import payouts, reversals
from payments.models import (
    MobileMoneyPayout,
    MpesaDeposit,
    MpesaReversal,
    ProviderCallback,
    StkPushRequest,
)


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
    actions = ["return_money"]

    @admin.action(description="Return what is owed back by M-Pesa reversal")
    def return_money(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for deposit in queryset:
            try:
                reversals.reversal_request(deposit_id=deposit.pk, requested_by=request.user)
                done += 1
            except Conflict as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} reversal(s) recorded and sent.")

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
    actions = ["retry"]

    @admin.action(description="Retry failed payouts (a new attempt under a new reference)")
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        for payout in queryset:
            try:
                retry = payouts.payout_retry(payout_id=payout.pk)
                self.message_user(request, f"{payout.reference}: retried as {retry.reference}.")
            except Conflict as exc:
                self.message_user(request, exc.message, messages.WARNING)

    list_display = [
        "reference",
        "paid_to",
        "kind",
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
