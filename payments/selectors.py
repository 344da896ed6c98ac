from decimal import Decimal

from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce

from escrow.models import EscrowContract, exact_cents
from escrow.selectors import escrow_totals, total
from payments.models import DepositStatus, MobileMoneyPayout, MpesaDeposit, PayoutStatus


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


def books_summary() -> dict[str, Decimal | bool]:
    """Where every shilling received went. Balanced means
    received = held in escrow + released + refunded + surplus owed + unmatched, and each
    escrow's funding equals the deposits credited to it."""
    received = MpesaDeposit.objects.filter(status=DepositStatus.COMPLETED)
    summary: dict[str, Decimal | bool] = {
        "received": total(received, "amount"),
        **escrow_totals(),
        "surplus_owed": total(received, "surplus_amount"),
        "unmatched": total(received.filter(escrow_contract__isnull=True), "amount"),
    }
    accounted = sum(
        summary[k] for k in ("held", "released", "refunded", "surplus_owed", "unmatched")
    )
    # What was released is paid out, being paid, or failed and owed to the worker; a failed
    # payout that was retried is replaced by its retry.
    live = MobileMoneyPayout.objects.exclude(status=PayoutStatus.FAILED, retried_by__isnull=False)
    summary["paid_out"] = total(live.filter(status=PayoutStatus.COMPLETED), "amount")
    summary["paying"] = total(
        live.filter(status__in=[PayoutStatus.PENDING, PayoutStatus.PROCESSING]), "amount"
    )
    summary["payout_failed"] = total(live.filter(status=PayoutStatus.FAILED), "amount")
    payouts_account = summary["paid_out"] + summary["paying"] + summary["payout_failed"]
    summary["balanced"] = (
        accounted == summary["received"]
        and payouts_account == summary["released"]
        and not escrows_not_matching_their_deposits()
    )
    return summary


def payout_by_tracking_id(tracking_id: str) -> MobileMoneyPayout | None:
    """The payout whose provider request (IntaSend batch) this is. Only the saved tracking id
    counts: a batch that merely names our reference was never approved by us."""
    return MobileMoneyPayout.objects.filter(provider_request__tracking_id=tracking_id).first()
