from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from escrow.models import EscrowContract, LedgerOperation, LedgerOperationStatus

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
