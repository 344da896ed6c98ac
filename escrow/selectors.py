from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from escrow.models import Dispute, EscrowContract, LedgerOperation, LedgerOperationStatus

ZERO = Decimal("0.00")


def escrow_transactions(*, escrow: EscrowContract) -> list[LedgerOperation]:
    return list(escrow.operations.all())


def total(queryset: object, field: str) -> Decimal:
    """A sum of money, exact to the cent (SQLite sums decimals in floating point)."""
    return (queryset.aggregate(total=Sum(field))["total"] or ZERO).quantize(ZERO)


def escrow_totals() -> dict[str, Decimal]:
    escrows = EscrowContract.objects.all()
    funded = total(escrows, "funded_amount")
    released = total(escrows, "released_amount")
    refunded = total(escrows, "refunded_amount")
    return {"held": funded - released - refunded, "released": released, "refunded": refunded}


def escrows_with_stuck_operations(*, older_than: datetime) -> set[int]:
    return set(
        LedgerOperation.objects.filter(
            status=LedgerOperationStatus.PENDING, updated_at__lt=older_than
        ).values_list("escrow_id", flat=True)
    )


def escrow_by_reference(contract_id: str) -> EscrowContract | None:
    """One escrow and its ledger transactions, by its canonical reference (normalise_reference)."""
    escrows = EscrowContract.objects.prefetch_related("operations")
    return escrows.filter(contract_id=contract_id).first()


def _disputes() -> QuerySet[Dispute]:
    return Dispute.objects.select_related(
        "raised_by",
        "resolved_by",
        "escrow__job_listing__employer",
        "escrow__job_listing__employee",
    )


def disputes_open() -> QuerySet[Dispute]:
    """The arbiters' queue: open disputes, oldest first."""
    return _disputes().filter(resolved_at__isnull=True).order_by("created_at", "id")


def disputes_resolved() -> QuerySet[Dispute]:
    """Decided disputes, the latest decision first."""
    return _disputes().filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")


def dispute_with_messages(dispute_id: int) -> Dispute | None:
    return _disputes().prefetch_related("messages__author").filter(pk=dispute_id).first()
