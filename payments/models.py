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


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# A callback may overtake the send's own answer, so success or failure can arrive while pending.
PAYOUT_MACHINE = StateMachine(
    "payout",
    {
        (PayoutStatus.PENDING, "submit"): PayoutStatus.PROCESSING,
        (PayoutStatus.PENDING, "succeed"): PayoutStatus.COMPLETED,
        (PayoutStatus.PROCESSING, "succeed"): PayoutStatus.COMPLETED,
        (PayoutStatus.PENDING, "fail"): PayoutStatus.FAILED,
        (PayoutStatus.PROCESSING, "fail"): PayoutStatus.FAILED,
    },
)


class PayoutKind(models.TextChoices):
    RELEASE = "release", "Release to the worker"
    REFUND = "refund", "Refund of a cancelled job"
    SURPLUS = "surplus", "Overpayment or unmatched money returned"
    DISPUTE_SHARE = "dispute_share", "Share of a resolved dispute"


class PayoutRecipient(models.TextChoices):
    EMPLOYEE = "employee", "Worker"
    EMPLOYER = "employer", "Employer (or payer)"


class MobileMoneyPayout(models.Model):
    """Money sent to a phone: a release or a dispute share to the worker, a refund, a dispute
    share or a surplus back to the employer, or unmatched money back to whoever paid it."""

    escrow_contract = models.ForeignKey(
        "escrow.EscrowContract",
        on_delete=models.PROTECT,
        related_name="payouts",
        null=True,
        blank=True,
        help_text="None for unmatched money returned",
    )
    deposit = models.ForeignKey(
        MpesaDeposit,
        on_delete=models.PROTECT,
        related_name="payouts",
        null=True,
        blank=True,
        help_text="The deposit whose surplus or unmatched money this returns",
    )
    paid_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="payouts",
        null=True,
        blank=True,
        help_text="The user paid, if the phone is a user's",
    )
    kind = models.CharField(max_length=13, choices=PayoutKind.choices, default=PayoutKind.RELEASE)
    recipient = models.CharField(
        max_length=8, choices=PayoutRecipient.choices, default=PayoutRecipient.EMPLOYEE
    )
    reference = models.CharField(
        max_length=64, unique=True, help_text="Ours: PAYOUT_, REFUND_, SHARE_ or SURPLUS_..."
    )
    phone_number = models.CharField(max_length=16)
    amount = money_field()
    transaction_reference = models.CharField(
        max_length=64, blank=True, default="", help_text="The provider's transaction id"
    )
    status = models.CharField(
        max_length=10,
        choices=PayoutStatus.choices,
        default=PayoutStatus.PENDING,
        db_index=True,
    )
    failure_reason = models.CharField(max_length=255, blank=True, default="")
    provider_request = models.JSONField(
        default=dict,
        blank=True,
        help_text="The provider's ids for our request (IntaSend's tracking_id and nonce), saved "
        "before the call that can move money",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Sends and status queries")
    payee = models.CharField(
        max_length=69, blank=True, default="", help_text="Where the release went on chain"
    )
    release_tx_hash = models.CharField(max_length=64, blank=True, default="")
    retry_of = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="retried_by",
        help_text="The failed payout this one retries, under a new reference",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=PayoutStatus.values), name="payout_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} KES {self.amount} ({self.status})"
