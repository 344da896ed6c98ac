"""The money picture on the admin's front page: what is held, what is owed back and not yet sent,
and what waits for a person (failed ledger operations, payouts and messages, unmatched money, open
disputes). One selector, a fixed number of queries whatever the size of the books; the querysets
behind each number are the ones the admin's list filters use, so a number and the list its link
opens always agree."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum, When

from escrow.models import (
    ZERO,
    Dispute,
    EscrowContract,
    LedgerOperation,
    LedgerOperationKind,
    LedgerOperationStatus,
    exact_cents,
)
from notifications.models import DeliveryStatus, NotificationDelivery
from payments.models import (
    DepositStatus,
    MobileMoneyPayout,
    MpesaDeposit,
    PayoutKind,
    PayoutRecipient,
    PayoutStatus,
    ReversalStatus,
)
from payments.selectors import live_payouts

# A payout in one of these states has not (yet) put the money on the phone.
UNPAID = [PayoutStatus.PENDING, PayoutStatus.PROCESSING, PayoutStatus.FAILED]


def _held(prefix: str = "") -> object:
    return exact_cents(
        F(f"{prefix}funded_amount") - F(f"{prefix}released_amount") - F(f"{prefix}refunded_amount")
    )


def escrows_holding_money() -> QuerySet[EscrowContract]:
    return EscrowContract.objects.annotate(held=_held()).filter(held__gt=0)


def escrows_owing_back_before_the_ledger() -> QuerySet[EscrowContract]:
    """Escrows that owe the employer money (a refund, or their share of a dispute) which the
    ledger has not yet confirmed leaving the escrow: its payout is made only once it has (a
    failed refund or resolve operation keeps it here until retried)."""
    confirmed = LedgerOperation.objects.filter(
        escrow=OuterRef("pk"),
        kind__in=[LedgerOperationKind.REFUND, LedgerOperationKind.RESOLVE],
        status=LedgerOperationStatus.SUCCEEDED,
    )
    return EscrowContract.objects.filter(refunded_amount__gt=0).exclude(Exists(confirmed))


def payouts_unpaid() -> QuerySet[MobileMoneyPayout]:
    """Payouts standing for money owed to a phone and not on it yet: pending, processing, or
    failed and not retried (a retried one is replaced by its retry)."""
    return live_payouts().filter(status__in=UNPAID)


def payouts_failed() -> QuerySet[MobileMoneyPayout]:
    """Failed payouts nobody has retried yet."""
    return live_payouts().filter(status=PayoutStatus.FAILED)


def _owed_back() -> Case:
    """What a deposit owes back: all of it when it reached no escrow, else its surplus."""
    return Case(When(escrow_contract__isnull=True, then=F("amount")), default=F("surplus_amount"))


def deposits_not_returned() -> QuerySet[MpesaDeposit]:
    """Money received that is owed back (unmatched, or paid beyond the escrow's need) with no
    payout returning it and no completed reversal. A deposit being returned by payout is counted
    by its payouts instead."""
    payouts = MobileMoneyPayout.objects.filter(deposit=OuterRef("pk"))
    return (
        MpesaDeposit.objects.filter(status=DepositStatus.COMPLETED)
        .filter(Q(escrow_contract__isnull=True) | Q(surplus_amount__gt=0))
        .exclude(Exists(payouts))
        .exclude(reversal__status=ReversalStatus.COMPLETED)
    )


def disputes_open() -> QuerySet[Dispute]:
    return Dispute.objects.filter(resolved_at__isnull=True)


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
        count=Count("pk"), total=Sum(_held("escrow__")), since=Min("created_at")
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
