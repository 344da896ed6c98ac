"""The money picture on the admin's front page: what is held, what is owed back and not yet sent,
and what waits for a person (failed ledger operations, payouts and messages, unmatched money, open
disputes). One selector, a fixed number of queries whatever the size of the books; the querysets
behind each number are the ones the admin's list filters use, so a number and the list its link
opens always agree."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, F, Min, Q, Sum, When

from escrow.models import ZERO, LedgerOperation, LedgerOperationStatus
from escrow.selectors import (
    disputes_open,
    escrows_holding_money,
    escrows_owing_back_before_the_ledger,
    held_amount,
)
from notifications.models import DeliveryStatus, NotificationDelivery
from payouts.models import PayoutKind, PayoutRecipient, PayoutStatus
from payouts.selectors import UNPAID, deposits_not_returned, live_payouts


def _owed_back() -> Case:
    """What a deposit owes back: all of it when it reached no escrow, else its surplus."""
    return Case(When(escrow_contract__isnull=True, then=F("amount")), default=F("surplus_amount"))


@dataclass(frozen=True)
class Figure:
    count: int
    amount: Decimal | None = None  # KES, when the line is about money


@dataclass(frozen=True)
class MoneyPicture:
    held: Figure  # escrows holding money, and how much
    owed_refunds: Figure  # refund payouts to employers, unpaid
    owed_surpluses: Figure  # overpayments and unmatched money returned by payout, unpaid
    owed_dispute_shares: Figure  # employers' dispute shares, unpaid
    owed_not_returned: Figure  # surpluses and unmatched money with no payout nor reversal done
    owed_before_ledger: Figure  # refunds and employers' shares the ledger has not confirmed
    unmatched: Figure  # unmatched deposits not returned (part of owed_not_returned)
    failed_ledger_operations: Figure
    failed_payouts: Figure  # failed and not retried, to anyone
    failed_deliveries: Figure  # notifications that could not be sent
    open_disputes: Figure  # and what the disputed escrows hold
    oldest_open_dispute: datetime | None

    @property
    def owed_back(self) -> Figure:
        parts = [
            self.owed_refunds,
            self.owed_surpluses,
            self.owed_dispute_shares,
            self.owed_not_returned,
            self.owed_before_ledger,
        ]
        return Figure(sum(p.count for p in parts), sum((p.amount for p in parts), ZERO))


def _kes(value: Decimal | None) -> Decimal:
    """A sum exact to the cent (SQLite sums decimals in floating point)."""
    return Decimal(value or 0).quantize(ZERO)


def money_picture() -> MoneyPicture:
    """The admin's front page, in seven queries."""
    held = escrows_holding_money().aggregate(count=Count("pk"), total=Sum("held"))

    def unpaid_to_employer(kind: str) -> Q:
        return Q(status__in=UNPAID, recipient=PayoutRecipient.EMPLOYER, kind=kind)

    payout_lines = {
        "refunds": unpaid_to_employer(PayoutKind.REFUND),
        "surpluses": unpaid_to_employer(PayoutKind.SURPLUS),
        "shares": unpaid_to_employer(PayoutKind.DISPUTE_SHARE),
        "failed": Q(status=PayoutStatus.FAILED),
    }
    payouts = live_payouts().aggregate(
        **{f"{name}_count": Count("pk", filter=q) for name, q in payout_lines.items()},
        **{f"{name}_total": Sum("amount", filter=q) for name, q in payout_lines.items()},
    )
    unmatched = Q(escrow_contract__isnull=True)
    deposits = deposits_not_returned().aggregate(
        count=Count("pk"),
        total=Sum(_owed_back()),
        unmatched_count=Count("pk", filter=unmatched),
        unmatched_total=Sum("amount", filter=unmatched),
    )
    before_ledger = escrows_owing_back_before_the_ledger().aggregate(
        count=Count("pk"), total=Sum("refunded_amount")
    )
    failed_ops = LedgerOperation.objects.filter(status=LedgerOperationStatus.FAILED).count()
    failed_deliveries = NotificationDelivery.objects.filter(status=DeliveryStatus.FAILED).count()
    disputes = disputes_open().aggregate(
        count=Count("pk"), total=Sum(held_amount("escrow__")), since=Min("created_at")
    )

    def payout_figure(name: str) -> Figure:
        return Figure(payouts[f"{name}_count"], _kes(payouts[f"{name}_total"]))

    return MoneyPicture(
        held=Figure(held["count"], _kes(held["total"])),
        owed_refunds=payout_figure("refunds"),
        owed_surpluses=payout_figure("surpluses"),
        owed_dispute_shares=payout_figure("shares"),
        owed_not_returned=Figure(deposits["count"], _kes(deposits["total"])),
        owed_before_ledger=Figure(before_ledger["count"], _kes(before_ledger["total"])),
        unmatched=Figure(deposits["unmatched_count"], _kes(deposits["unmatched_total"])),
        failed_ledger_operations=Figure(failed_ops),
        failed_payouts=payout_figure("failed"),
        failed_deliveries=Figure(failed_deliveries),
        open_disputes=Figure(disputes["count"], _kes(disputes["total"])),
        oldest_open_dispute=disputes["since"],
    )
