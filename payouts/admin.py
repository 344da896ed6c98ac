from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.admin import PhoneNumberFormMixin
from kazi.admin_mixins import ReadOnlyMoneyAdmin
from kazi.errors import Conflict
from kazi.money import kes_shown
from mpesa import reversals
from mpesa.models import MpesaDeposit
from payouts import services as payouts
from payouts.models import MobileMoneyPayout
from payouts.selectors import deposits_not_returned, payouts_failed, payouts_unpaid


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


class ReturnedFilter(admin.SimpleListFilter):
    """Money owed back (unmatched, or paid beyond the escrow's need): returned or not."""

    title = "owed back"
    parameter_name = "returned"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("no", "Not yet returned"), ("yes", "Returned or being returned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        waiting = deposits_not_returned().values("pk")
        match self.value():
            case "no":
                return queryset.filter(pk__in=waiting)
            case "yes":
                owed = queryset.filter(escrow_contract__isnull=True) | queryset.filter(
                    surplus_amount__gt=0
                )
                return owed.exclude(pk__in=waiting)
        return queryset


class PayBackForm(PhoneNumberFormMixin, forms.Form):
    phone_number = forms.CharField(
        label="Phone number to pay back",
        max_length=20,
        help_text="Any Kenyan form: 0712 345 678, 254712345678, +254 712 345 678.",
    )


@admin.register(MpesaDeposit)
class MpesaDepositAdmin(ReadOnlyMoneyAdmin):
    actions = ["pay_back", "return_money"]

    @admin.action(
        description="Pay back to a phone (unmatched money, by payout)…", permissions=["change"]
    )
    def pay_back(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Asks for the phone first (the payer's number arrives masked), then returns each
        deposit's money there by payouts.services.payout_return_unmatched, once."""
        form = PayBackForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            phone = form.cleaned_data["phone_number"]
            for deposit in queryset:
                try:
                    sent = payouts.payout_return_unmatched(
                        deposit_id=deposit.pk, phone_number=phone, requested_by=request.user
                    )
                except Conflict as exc:
                    self.message_user(request, exc.message, messages.WARNING)
                    continue
                self.log_change(request, deposit, f"Paid back to {phone}.")
                self.message_user(
                    request,
                    f"{deposit.transaction_reference}: {kes_shown(deposit.amount)} is being paid "
                    f"back to {phone} ({', '.join(p.reference for p in sent)}).",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Pay back to a phone",
            "opts": self.opts,
            "deposits": queryset,
            "form": form,
            "action": "pay_back",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "kazi_admin/deposit_pay_back.html", context)

    @admin.action(description="Return what is owed back by M-Pesa reversal", permissions=["change"])
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
    list_filter = [UnmatchedFilter, ReturnedFilter, "status", "created_at"]
    list_select_related = ["escrow_contract"]
    search_fields = ["transaction_reference", "bill_ref_number", "escrow_contract__contract_id"]


class PayoutProgressFilter(admin.SimpleListFilter):
    title = "progress"
    parameter_name = "progress"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("unpaid", "Not paid yet (pending, processing, failed)"),
            ("failed", "Failed, not retried"),
            ("retried", "Failed and retried"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "unpaid":
                return queryset.filter(pk__in=payouts_unpaid().values("pk"))
            case "failed":
                return queryset.filter(pk__in=payouts_failed().values("pk"))
            case "retried":
                return queryset.filter(retried_by__isnull=False)
        return queryset


@admin.register(MobileMoneyPayout)
class MobileMoneyPayoutAdmin(ReadOnlyMoneyAdmin):
    actions = ["retry"]

    @admin.action(
        description="Retry failed payouts (a new attempt under a new reference)",
        permissions=["change"],
    )
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
        "recipient",
        "phone_number",
        "amount",
        "status",
        "transaction_reference",
        "attempts",
        "updated_at",
    ]
    list_filter = [PayoutProgressFilter, "kind", "recipient", "status", "created_at"]
    list_select_related = ["paid_to"]
    search_fields = [
        "reference",
        "transaction_reference",
        "phone_number",
        "escrow_contract__contract_id",
    ]
