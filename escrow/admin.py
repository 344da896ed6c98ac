from decimal import ROUND_DOWN, Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import Truncator
from django.utils.timesince import timesince

from escrow import services, workflows
from escrow.models import (
    Dispute,
    DisputeMessage,
    EscrowContract,
    LedgerOperation,
    LedgerOperationStatus,
)
from escrow.selectors import (
    disputes_open,
    escrows_holding_money,
    escrows_owing_back_before_the_ledger,
)
from kazi.admin_mixins import ReadOnlyMoneyAdmin
from kazi.errors import Conflict, DomainError
from kazi.money import kes_shown


class HeldFilter(admin.SimpleListFilter):
    title = "money"
    parameter_name = "money"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("held", "Holding money"),
            ("none", "Holding nothing"),
            ("owed_back", "Owing the employer, waiting for the ledger"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        holding = escrows_holding_money().values("pk")
        match self.value():
            case "held":
                return queryset.filter(pk__in=holding)
            case "none":
                return queryset.exclude(pk__in=holding)
            case "owed_back":
                owing = escrows_owing_back_before_the_ledger().values("pk")
                return queryset.filter(pk__in=owing)
        return queryset


def _retry_url(op: LedgerOperation, back: str = "") -> str:
    url = reverse("admin:escrow_ledgeroperation_retry", args=[op.pk])
    return f"{url}?{urlencode({'next': back})}" if back else url


class LedgerOperationInline(admin.TabularInline):
    model = LedgerOperation
    extra = 0
    can_delete = False
    fields = ["kind", "idempotency_key", "amount", "status", "tx_hash", "attempts", "last_error"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # Only those who may retry see the way to; the retry view checks again.
        retry = self.has_change_permission(request, obj)
        return [*self.fields, "created_at", *(["retry"] if retry else [])]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return self.get_fields(request, obj)

    @admin.display(description="retry")
    def retry(self, op: LedgerOperation) -> str:
        if op.status != LedgerOperationStatus.FAILED:
            return ""
        back = reverse("admin:escrow_escrowcontract_change", args=[op.escrow_id])
        return format_html('<a class="button" href="{}">Retry…</a>', _retry_url(op, back))


@admin.register(EscrowContract)
class EscrowContractAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "contract_id",
        "job_listing",
        "employer",
        "employee",
        "amount",
        "funded_amount",
        "released_amount",
        "refunded_amount",
        "status",
        "created_at",
    ]
    list_filter = [HeldFilter, "status", "created_at"]
    list_select_related = ["job_listing", "employer", "employee"]
    search_fields = ["contract_id", "employer__phone_number", "employee__phone_number"]
    inlines = [LedgerOperationInline]


@admin.register(LedgerOperation)
class LedgerOperationAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "idempotency_key",
        "escrow",
        "kind",
        "amount",
        "status",
        "attempts",
        "error",
        "updated_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["escrow"]
    search_fields = ["idempotency_key", "escrow__contract_id", "tx_hash"]
    actions = ["retry_failed"]

    @admin.display(description="last error")
    def error(self, op: LedgerOperation) -> str:
        return Truncator(op.last_error).chars(80)

    @admin.action(
        description="Retry failed operations (a new attempt under a new key)",
        permissions=["change"],
    )
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        for op in queryset:
            self._retry(request, op)

    def _retry(self, request: HttpRequest, op: LedgerOperation) -> None:
        try:
            services.ledger_operation_retry(op_id=op.pk, by=request.user)
        except Conflict as exc:
            self.message_user(request, exc.message, messages.WARNING)
            return
        # On the embedded default the escrow's queue has run by now; elsewhere a worker runs it.
        retried = LedgerOperation.objects.get(pk=op.pk)
        outcome = {
            LedgerOperationStatus.SUCCEEDED: ("it succeeded.", messages.SUCCESS),
            LedgerOperationStatus.FAILED: (
                f"it failed again: {retried.last_error}",
                messages.ERROR,
            ),
        }.get(retried.status, ("the escrow's queue will carry it out.", messages.INFO))
        self.message_user(
            request,
            f"{op.idempotency_key} retried as {retried.idempotency_key}; {outcome[0]}",
            outcome[1],
        )

    def get_urls(self) -> list:
        retry = self.admin_site.admin_view(self.retry_view)
        return [
            path("<path:object_id>/retry/", retry, name="escrow_ledgeroperation_retry"),
            *super().get_urls(),
        ]

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, then retry one failed operation (linked from the escrow's page)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        op = get_object_or_404(LedgerOperation.objects.select_related("escrow"), pk=object_id)
        back = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
            back = ""
        back = back or reverse("admin:escrow_ledgeroperation_change", args=[op.pk])
        if request.method == "POST":
            self._retry(request, op)
            return redirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Retry {op.idempotency_key}?",
            "opts": self.opts,
            "op": op,
            "back": back,
        }
        return TemplateResponse(request, "kazi_admin/ledger_retry.html", context)


class DisputeStateFilter(admin.SimpleListFilter):
    """Open disputes unless asked otherwise: the queue is what an arbiter comes for."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist: object) -> object:
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value() or "open":
            case "open":
                return queryset.filter(pk__in=disputes_open().values("pk"))
            case "resolved":
                return queryset.filter(resolved_at__isnull=False)
        return queryset


def _side(user_id: int, escrow: EscrowContract) -> str:
    if user_id == escrow.employer_id:
        return "employer"
    if user_id == escrow.employee_id:
        return "worker"
    return "staff"


class DisputeMessageInline(admin.TabularInline):
    """Both sides' messages, as they wrote them: read only."""

    model = DisputeMessage
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "side", "text"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("author", "dispute__escrow")

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Whoever may see the dispute sees what both sides said.
        return super().has_view_permission(request, obj) or workflows.can_arbitrate(request.user)

    @admin.display(description="side")
    def side(self, message: DisputeMessage) -> str:
        return _side(message.author_id, message.dispute.escrow)


class ResolveForm(forms.Form):
    to_employee = forms.DecimalField(
        label="To the worker (KES)", max_digits=12, decimal_places=2, min_value=Decimal("0.00")
    )
    to_employer = forms.DecimalField(
        label="Back to the employer (KES)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.00"),
    )
    note = forms.CharField(
        label="Note to both sides", widget=forms.Textarea, required=False, max_length=2000
    )


def suggested_split(held: Decimal) -> dict[str, Decimal]:
    """Half each, in whole shillings (M-Pesa pays no cents); the odd shilling to the employer."""
    to_employee = (held / 2).quantize(Decimal("1"), rounding=ROUND_DOWN)
    return {"to_employee": to_employee, "to_employer": held - to_employee}


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyMoneyAdmin):
    """The dispute queue, oldest first; arbiters (escrow.resolve_dispute) resolve from here,
    through the same service as the API."""

    list_display = [
        "reference",
        "job",
        "held",
        "raised_by_side",
        "short_reason",
        "age",
        "state",
        "resolve_link",
    ]
    list_display_links = ["reference", "job"]
    list_filter = [DisputeStateFilter, "created_at"]
    list_select_related = ["escrow__job_listing", "raised_by"]
    ordering = ["created_at", "id"]
    search_fields = [
        "escrow__contract_id",
        "escrow__job_listing__title",
        "raised_by__phone_number",
        "reason",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "job", "held", "raised_by_side", "reason", "created_at"]}),
        (
            "Resolution",
            {"fields": ["resolved_by", "resolved_at", "to_employee", "to_employer", "note"]},
        ),
    ]
    inlines = [DisputeMessageInline]
    actions = ["resolve"]
    change_form_template = "kazi_admin/dispute_change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        computed = ["reference", "job", "held", "raised_by_side"]
        return [*super().get_readonly_fields(request, obj), *computed]

    # --- who may do what

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return workflows.can_arbitrate(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # An arbiter sees the queue they work on.
        return super().has_view_permission(request, obj) or self.has_resolve_permission(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_resolve_permission(request)

    # --- columns

    @admin.display(description="escrow", ordering="escrow__contract_id")
    def reference(self, dispute: Dispute) -> str:
        return dispute.escrow.contract_id

    @admin.display(description="job", ordering="escrow__job_listing__title")
    def job(self, dispute: Dispute) -> str:
        return dispute.escrow.job_listing.title

    @admin.display(description="amount held")
    def held(self, dispute: Dispute) -> str:
        escrow = dispute.escrow
        if dispute.is_open:
            return kes_shown(escrow.held_amount)
        return (
            f"{kes_shown(dispute.to_employee)} to the worker, "
            f"{kes_shown(dispute.to_employer)} to the employer"
        )

    @admin.display(description="raised by")
    def raised_by_side(self, dispute: Dispute) -> str:
        return f"{dispute.raised_by} ({_side(dispute.raised_by_id, dispute.escrow)})"

    @admin.display(description="reason")
    def short_reason(self, dispute: Dispute) -> str:
        return Truncator(dispute.reason).chars(80)

    @admin.display(description="age", ordering="created_at")
    def age(self, dispute: Dispute) -> str:
        return timesince(dispute.created_at, dispute.resolved_at or timezone.now())

    @admin.display(description="state")
    def state(self, dispute: Dispute) -> str:
        return "open" if dispute.is_open else "resolved"

    @admin.display(description="")
    def resolve_link(self, dispute: Dispute) -> str:
        if not dispute.is_open:
            return ""
        return format_html('<a class="button" href="{}">Resolve…</a>', self._resolve_url(dispute))

    def get_list_display(self, request: HttpRequest) -> list[str]:
        shown = super().get_list_display(request)
        if self.has_resolve_permission(request):
            return shown
        return [column for column in shown if column != "resolve_link"]

    # --- resolving

    def _resolve_url(self, dispute: Dispute) -> str:
        return reverse("admin:escrow_dispute_resolve", args=[dispute.pk])

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        dispute = self.get_object(request, object_id)
        resolvable = dispute and dispute.is_open and self.has_resolve_permission(request)
        extra = {"resolve_url": self._resolve_url(dispute) if resolvable else ""}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.action(description="Resolve the selected dispute…", permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Choose one dispute to resolve.", messages.WARNING)
            return None
        return redirect(self._resolve_url(queryset.get()))

    def get_urls(self) -> list:
        resolve = self.admin_site.admin_view(self.resolve_view)
        return [
            path("<path:object_id>/resolve/", resolve, name="escrow_dispute_resolve"),
            *super().get_urls(),
        ]

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The split of what the escrow holds, suggested half each; sent to
        escrow.workflows.job_resolve, whose refusal is shown and writes nothing."""
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        dispute = get_object_or_404(
            Dispute.objects.select_related("escrow__job_listing", "escrow__employer", "raised_by"),
            pk=object_id,
        )
        escrow = dispute.escrow
        done = reverse("admin:escrow_dispute_change", args=[dispute.pk])
        if not dispute.is_open:
            self.message_user(request, f"The dispute over {escrow} is resolved.", messages.WARNING)
            return redirect(done)
        form = ResolveForm(request.POST or None, initial=suggested_split(escrow.held_amount))
        if request.method == "POST" and form.is_valid():
            split = form.cleaned_data
            try:
                workflows.job_resolve(job_id=escrow.job_listing_id, arbiter=request.user, **split)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                said = (
                    f"{kes_shown(split['to_employee'])} to the worker, "
                    f"{kes_shown(split['to_employer'])} back to the employer"
                )
                self.log_change(request, dispute, f"Resolved: {said}.")
                self.message_user(
                    request,
                    f"The dispute over {escrow} is resolved: {said}. Each share is paid out "
                    f"once the ledger confirms the split.",
                    messages.SUCCESS,
                )
                return redirect(done)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve the dispute over {escrow}",
            "opts": self.opts,
            "dispute": dispute,
            "held": kes_shown(escrow.held_amount),
            "raised_by": self.raised_by_side(dispute),
            "dispute_messages": [
                (message, _side(message.author_id, escrow))
                for message in dispute.messages.select_related("author")
            ],
            "form": form,
            "back": done,
        }
        return TemplateResponse(request, "kazi_admin/dispute_resolve.html", context)
