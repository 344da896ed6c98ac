from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.db.models.lookups import GreaterThanOrEqual

from kazi.states import StateMachine

ZERO = Decimal("0.00")


def money_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


def exact_cents(expression: models.Expression) -> Round:
    """Arithmetic on money columns for check constraints: SQLite computes it in floating point
    (10 + 12.87 != 22.87), so round to cents before comparing; exact on PostgreSQL anyway."""
    return Round(expression, 2)


class EscrowStatus(models.TextChoices):
    PENDING_DEPOSIT = "pending_deposit", "Pending deposit"
    FUNDED = "funded", "Funded"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed (release submitted)"
    RELEASED = "released", "Released"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"
    RESOLVED = "resolved", "Resolved"


# A dispute freezes a fully funded escrow (the contract disputes only those) until an arbiter
# splits what it holds; nothing else moves it meanwhile.
ESCROW_MACHINE = StateMachine(
    "escrow",
    {
        (EscrowStatus.PENDING_DEPOSIT, "fund"): EscrowStatus.FUNDED,
        (EscrowStatus.FUNDED, "start"): EscrowStatus.IN_PROGRESS,
        (EscrowStatus.IN_PROGRESS, "complete"): EscrowStatus.COMPLETED,
        (EscrowStatus.COMPLETED, "confirm_release"): EscrowStatus.RELEASED,
        (EscrowStatus.PENDING_DEPOSIT, "refund"): EscrowStatus.REFUNDED,
        (EscrowStatus.FUNDED, "refund"): EscrowStatus.REFUNDED,
        (EscrowStatus.FUNDED, "dispute"): EscrowStatus.DISPUTED,
        (EscrowStatus.IN_PROGRESS, "dispute"): EscrowStatus.DISPUTED,
        (EscrowStatus.DISPUTED, "resolve"): EscrowStatus.RESOLVED,
    },
)


class EscrowContract(models.Model):
    """Our record of one escrow; the ledger (Stellar) holds the money, keyed by `contract_id`."""

    contract_id = models.CharField(max_length=15, unique=True, help_text="ESCROW_XXXXXXXX")
    job_listing = models.OneToOneField(
        "jobs.JobListing", on_delete=models.PROTECT, related_name="escrow"
    )
    employer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="escrows_funded"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="escrows_payable",
        null=True,
        blank=True,
    )
    amount = money_field()
    funded_amount = money_field(default=ZERO)
    released_amount = money_field(default=ZERO)
    refunded_amount = money_field(default=ZERO)
    status = models.CharField(
        max_length=16,
        choices=EscrowStatus.choices,
        default=EscrowStatus.PENDING_DEPOSIT,
        db_index=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="escrow_amount_positive"),
            models.CheckConstraint(
                condition=Q(funded_amount__gte=0) & Q(funded_amount__lte=F("amount")),
                name="escrow_funded_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(released_amount__gte=0)
                & Q(refunded_amount__gte=0)
                & GreaterThanOrEqual(
                    exact_cents(F("funded_amount") - F("released_amount") - F("refunded_amount")),
                    0,
                ),
                name="escrow_outflows_within_funding",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EscrowStatus.values), name="escrow_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.contract_id

    @property
    def held_amount(self) -> Decimal:
        return self.funded_amount - self.released_amount - self.refunded_amount

    @property
    def remaining_amount(self) -> Decimal:
        """What still has to be deposited before the escrow is funded."""
        if self.status != EscrowStatus.PENDING_DEPOSIT:
            return ZERO
        return self.amount - self.funded_amount


class LedgerOperationKind(models.TextChoices):
    CREATE = "create"
    FUND = "fund"
    ASSIGN = "assign"
    RELEASE = "release"
    REFUND = "refund"
    DISPUTE = "dispute"
    RESOLVE = "resolve"


class LedgerOperationStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LedgerOperation(models.Model):
    """An intent to change the on-chain escrow, written in the same transaction as the change in
    our books and carried out afterwards, in order, by `escrow.tasks.ledger_sync`."""

    escrow = models.ForeignKey(EscrowContract, on_delete=models.PROTECT, related_name="operations")
    kind = models.CharField(max_length=8, choices=LedgerOperationKind.choices)
    idempotency_key = models.CharField(max_length=80, unique=True)
    amount = money_field(null=True, blank=True, help_text="fund, create; resolve: to the payee")
    funder_amount = money_field(null=True, blank=True, help_text="resolve: back to the funder")
    payee = models.CharField(max_length=69, blank=True, default="")
    status = models.CharField(
        max_length=10,
        choices=LedgerOperationStatus.choices,
        default=LedgerOperationStatus.PENDING,
        db_index=True,
    )
    tx_hash = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True)
                | Q(amount__gt=0)
                | Q(kind=LedgerOperationKind.RESOLVE, amount__gte=0),
                name="ledger_op_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class Dispute(models.Model):
    """A quarrel over a funded escrow: raised by the employer or the assigned worker, argued in
    messages, settled by an arbiter's split of what the escrow holds."""

    escrow = models.OneToOneField(EscrowContract, on_delete=models.PROTECT, related_name="dispute")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes_raised"
    )
    reason = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="disputes_resolved",
        null=True,
        blank=True,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    to_employee = money_field(null=True, blank=True)
    to_employer = money_field(null=True, blank=True)
    note = models.TextField(max_length=2000, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]  # the queue: oldest first
        permissions = [("resolve_dispute", "Can resolve disputes (arbiter)")]

    def __str__(self) -> str:
        return f"Dispute over {self.escrow}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class DisputeMessage(models.Model):
    """Evidence or argument from either party, or a note from staff."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} on {self.dispute}"
