from django.conf import settings
from django.db import models
from django.db.models import Q

from escrow.models import money_field
from kazi.states import StateMachine
from mpesa.models import MpesaDeposit


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
