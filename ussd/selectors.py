"""What the USSD screens read that the apps' own selectors do not give."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import User
from escrow.models import ZERO, EscrowContract
from escrow.selectors import total
from payouts.models import MobileMoneyPayout, PayoutKind, PayoutRecipient
from payouts.selectors import live_payouts


@dataclass(frozen=True)
class EmployerMoney:
    held: Decimal
    """Still in their escrows: paid in, neither released to a worker nor given back."""
    coming: Decimal
    """Theirs again (a cancelled job, their dispute share) but not yet a payout: the payout is
    made once the ledger confirms the money left the escrow."""
    payouts: QuerySet[MobileMoneyPayout]
    """Refunds, surpluses and dispute shares sent (or being sent) to them, newest first; a failed
    payout that was retried stands as its retry."""


def employer_money(employer: User) -> EmployerMoney:
    escrows = EscrowContract.objects.filter(employer=employer)
    funded, released, refunded = (
        total(escrows, field) for field in ("funded_amount", "released_amount", "refunded_amount")
    )
    back_to_employers = live_payouts().filter(recipient=PayoutRecipient.EMPLOYER)
    paid_from_escrows = total(
        back_to_employers.filter(escrow_contract__employer=employer).exclude(
            kind=PayoutKind.SURPLUS  # a surplus never entered the escrow
        ),
        "amount",
    )
    return EmployerMoney(
        held=funded - released - refunded,
        coming=max(refunded - paid_from_escrows, ZERO),
        payouts=back_to_employers.filter(paid_to=employer)
        .select_related("escrow_contract__job_listing", "deposit")
        .order_by("-created_at", "-id"),
    )
