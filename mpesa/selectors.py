from decimal import Decimal

from django.db.models import (
    DecimalField,
    F,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from escrow.models import (
    EscrowContract,
    exact_cents,
)
from mpesa.models import DepositStatus, MpesaDeposit, StkPushRequest


def escrows_not_matching_their_deposits() -> list[str]:
    """Escrows whose funded amount differs from the deposits credited to them (should be none)."""
    credited = exact_cents(
        Coalesce(
            Sum("deposits__credited_amount"), Value(Decimal("0.00")), output_field=DecimalField()
        )
    )
    return list(
        EscrowContract.objects.annotate(credited=credited)
        .exclude(credited=F("funded_amount"))
        .values_list("contract_id", flat=True)
    )


def escrow_deposits(*, escrow: EscrowContract) -> QuerySet[MpesaDeposit]:
    """The M-Pesa payments credited to an escrow, oldest first."""
    return escrow.deposits.filter(status=DepositStatus.COMPLETED).order_by("created_at", "id")


def escrow_stk_requests(*, escrow: EscrowContract) -> QuerySet[StkPushRequest]:
    """The payment prompts sent for an escrow, newest first."""
    return escrow.stk_requests.order_by("-created_at", "-id")


# A payout in one of these states has not (yet) put the money on the phone.
