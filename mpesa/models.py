from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import Exact

from escrow.models import ZERO, exact_cents, money_field
from kazi.states import StateMachine


class ProviderCallback(models.Model):
    """Every callback from a payment provider, stored as received before anything trusts it."""

    class Kind(models.TextChoices):
        MPESA_C2B_CONFIRMATION = "mpesa_c2b_confirmation", "M-Pesa C2B confirmation"
        MPESA_C2B_VALIDATION = "mpesa_c2b_validation", "M-Pesa C2B validation"
        MPESA_STK = "mpesa_stk", "M-Pesa STK push result"
        MPESA_REVERSAL = "mpesa_reversal", "M-Pesa reversal result"
        INTERSEND_PAYOUT = "intersend_payout", "Intersend payout status"
        INTASEND_PAYOUT = "intasend_payout", "IntaSend send-money event"
        MPESA_B2C = "mpesa_b2c", "M-Pesa B2C payout result"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    body = models.TextField(help_text="The raw request body")
    outcome = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class DepositStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class MpesaDeposit(models.Model):
    """Money received by M-Pesa. `amount` = `credited_amount` (into the escrow) + `surplus_amount`
    (owed back to the payer); a deposit with no escrow is unmatched, all of it kept for review."""

    class Source(models.TextChoices):
        C2B = "c2b", "Pay Bill (C2B)"
        STK = "stk", "STK push"

    transaction_reference = models.CharField(
        max_length=40, unique=True, help_text="M-Pesa TransID (C2B) or CheckoutRequestID (STK)"
    )
    source = models.CharField(max_length=3, choices=Source.choices, default=Source.C2B)
    receipt_number = models.CharField(
        max_length=20, blank=True, default="", help_text="M-Pesa receipt"
    )
    escrow_contract = models.ForeignKey(
        "escrow.EscrowContract",
        on_delete=models.PROTECT,
        related_name="deposits",
        null=True,
        blank=True,
    )
    bill_ref_number = models.CharField(max_length=100, blank=True, default="")
    amount = money_field()
    credited_amount = money_field(default=ZERO)
    surplus_amount = money_field(default=ZERO)
    phone_number = models.CharField(
        max_length=100, blank=True, default="", help_text="MSISDN as sent (often hashed or masked)"
    )
    payer_name = models.CharField(max_length=200, blank=True, default="")
    transaction_time = models.CharField(max_length=14, blank=True, default="")
    paid_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When M-Pesa says it was paid (for a payment known only from an STK query: "
        "when the prompt was sent)",
    )
    status = models.CharField(
        max_length=10, choices=DepositStatus.choices, default=DepositStatus.PENDING
    )
    callback = models.ForeignKey(
        ProviderCallback, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
            models.UniqueConstraint(
                fields=["receipt_number"],
                condition=~Q(receipt_number=""),
                name="one_deposit_per_mpesa_receipt",
            ),
            models.CheckConstraint(
                condition=Q(credited_amount__gte=0)
                & Q(surplus_amount__gte=0)
                & Exact(exact_cents(F("amount") - F("credited_amount") - F("surplus_amount")), 0)
                | Q(escrow_contract__isnull=True, credited_amount=0, surplus_amount=0),
                name="deposit_split_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_reference} KES {self.amount}"

    @property
    def is_unmatched(self) -> bool:
        return self.escrow_contract_id is None


class StkStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the customer"
    COMPLETED = "completed", "Paid"
    FAILED = "failed", "Not paid"


STK_MACHINE = StateMachine(
    "STK push",
    {
        (StkStatus.PENDING, "succeed"): StkStatus.COMPLETED,
        (StkStatus.PENDING, "fail"): StkStatus.FAILED,
    },
)


class StkPushRequest(models.Model):
    """A payment prompt sent to an employer's phone, keyed by Daraja's CheckoutRequestID."""

    checkout_request_id = models.CharField(max_length=64, unique=True)
    merchant_request_id = models.CharField(max_length=64, blank=True, default="")
    escrow_contract = models.ForeignKey(
        "escrow.EscrowContract", on_delete=models.PROTECT, related_name="stk_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    phone_number = models.CharField(max_length=16)
    amount = money_field()
    status = models.CharField(
        max_length=10, choices=StkStatus.choices, default=StkStatus.PENDING, db_index=True
    )
    result_code = models.CharField(max_length=10, blank=True, default="")
    result_message = models.CharField(max_length=255, blank=True, default="")
    deposit = models.OneToOneField(
        MpesaDeposit, on_delete=models.PROTECT, null=True, blank=True, related_name="stk_request"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="stk_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.checkout_request_id} KES {self.amount} ({self.status})"


class ReversalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Submitted"
    COMPLETED = "completed", "Returned"
    FAILED = "failed", "Failed"


REVERSAL_MACHINE = StateMachine(
    "reversal",
    {
        (ReversalStatus.PENDING, "submit"): ReversalStatus.SUBMITTED,
        (ReversalStatus.PENDING, "succeed"): ReversalStatus.COMPLETED,
        (ReversalStatus.SUBMITTED, "succeed"): ReversalStatus.COMPLETED,
        (ReversalStatus.PENDING, "fail"): ReversalStatus.FAILED,
        (ReversalStatus.SUBMITTED, "fail"): ReversalStatus.FAILED,
    },
)


class MpesaReversal(models.Model):
    """Money sent back to the payer through Daraja's Reversal API: an unmatched deposit, or the
    surplus of an overpayment. One per deposit."""

    deposit = models.OneToOneField(MpesaDeposit, on_delete=models.PROTECT, related_name="reversal")
    amount = money_field()
    status = models.CharField(
        max_length=10, choices=ReversalStatus.choices, default=ReversalStatus.PENDING
    )
    conversation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    originator_conversation_id = models.CharField(max_length=64, blank=True, default="")
    result_code = models.CharField(max_length=10, blank=True, default="")
    result_message = models.CharField(max_length=255, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reversal_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Reversal of {self.deposit.transaction_reference} KES {self.amount}"
