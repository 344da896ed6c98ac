from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from escrow.models import (
    EscrowContract,
    LedgerOperation,
    LedgerOperationKind,
    LedgerOperationStatus,
    exact_cents,
)
from escrow.selectors import escrow_totals, total
from mpesa.models import DepositStatus, MpesaDeposit, ReversalStatus
from mpesa.selectors import escrows_not_matching_their_deposits
from payouts.models import MobileMoneyPayout, PayoutKind, PayoutRecipient, PayoutStatus
from payouts.providers.base import PayoutKeys
from payouts.providers.mpesa_b2c import REQUEST_IDS


def live_payouts() -> QuerySet[MobileMoneyPayout]:
    """Payouts that stand for money owed to a phone: a failed one that was retried is replaced
    by its retry."""
    return MobileMoneyPayout.objects.exclude(status=PayoutStatus.FAILED, retried_by__isnull=False)


def escrows_not_matching_their_payouts() -> list[str]:
    """Escrows whose money sent to phones differs from what left them on chain (should be
    none): once the chain confirms a release, refund or resolution, the worker's part
    (released) and the employer's part (refunded) are each owed by payouts adding up to it;
    before that, none is."""

    def paid(recipient: str) -> Coalesce:
        return Coalesce(
            Sum(
                "payouts__amount",
                filter=Q(payouts__in=live_payouts(), payouts__recipient=recipient)
                & ~Q(payouts__kind=PayoutKind.SURPLUS),
            ),
            Value(Decimal("0.00")),
            output_field=DecimalField(),
        )

    left = LedgerOperation.objects.filter(
        escrow=OuterRef("pk"),
        kind__in=[
            LedgerOperationKind.RELEASE,
            LedgerOperationKind.REFUND,
            LedgerOperationKind.RESOLVE,
        ],
        status=LedgerOperationStatus.SUCCEEDED,
    )
    escrows = EscrowContract.objects.annotate(
        to_worker=exact_cents(paid(PayoutRecipient.EMPLOYEE)),
        to_employer=exact_cents(paid(PayoutRecipient.EMPLOYER)),
        left=Exists(left),
    )
    wrong = escrows.filter(left=True).exclude(
        to_worker=F("released_amount"), to_employer=F("refunded_amount")
    ) | escrows.filter(left=False).exclude(to_worker=0, to_employer=0)
    return list(wrong.values_list("contract_id", flat=True))


def deposits_not_matching_their_returns() -> list[str]:
    """Deposits whose surplus (or, unmatched, whole amount) is returned by payouts adding up
    to something else (should be none; a deposit returned by reversal has no payouts)."""
    returned = Coalesce(
        Sum("payouts__amount", filter=Q(payouts__in=live_payouts())),
        Value(Decimal("0.00")),
        output_field=DecimalField(),
    )
    deposits = MpesaDeposit.objects.filter(payouts__isnull=False).distinct()
    owed = Case(When(escrow_contract__isnull=True, then=F("amount")), default=F("surplus_amount"))
    wrong = deposits.annotate(returned=exact_cents(returned)).exclude(returned=owed)
    return list(wrong.values_list("transaction_reference", flat=True))


def books_summary() -> dict[str, Decimal | bool]:
    """Where every shilling received went. Balanced means
    received = held in escrow + released + refunded + surplus owed + unmatched, each escrow's
    funding equals the deposits credited to it, and what left each escrow (or was paid too
    much, or reached no escrow and is being returned) is owed by payouts adding up to it."""
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
    live = live_payouts()
    summary["paid_out"] = total(live.filter(status=PayoutStatus.COMPLETED), "amount")
    summary["paying"] = total(
        live.filter(status__in=[PayoutStatus.PENDING, PayoutStatus.PROCESSING]), "amount"
    )
    summary["payout_failed"] = total(live.filter(status=PayoutStatus.FAILED), "amount")
    summary["balanced"] = (
        accounted == summary["received"]
        and not escrows_not_matching_their_deposits()
        and not escrows_not_matching_their_payouts()
        and not deposits_not_matching_their_returns()
    )
    return summary


def payout_by_tracking_id(tracking_id: str) -> MobileMoneyPayout | None:
    """The payout whose provider request (IntaSend batch) this is. Only the saved tracking id
    counts: a batch that merely names our reference was never approved by us."""
    return MobileMoneyPayout.objects.filter(provider_request__tracking_id=tracking_id).first()


def payout_named_by(keys: PayoutKeys) -> MobileMoneyPayout | None:
    """The payout a provider's news names: by our reference, an id the provider gave the
    request (kept in `provider_request`) or the transfer's receipt. None when no payout, or
    (never expected) more than one, has them: news is not applied to a guess."""
    ids, receipts = list(keys.request_ids), list(keys.receipts)
    named = Q(reference__in=ids) | Q(transaction_reference__in=receipts)
    for field in REQUEST_IDS:
        named |= Q(**{f"provider_request__{field}__in": ids})
    found = list(MobileMoneyPayout.objects.filter(named)[:2]) if ids or receipts else []
    return found[0] if len(found) == 1 else None


# --- What the web pages read (web/) ---


@dataclass(frozen=True)
class UserMoney:
    """One person's money: what escrows hold of it and what was paid to their phone."""

    held_by_me: Decimal
    """In escrow for the jobs they posted: paid in, neither released nor given back yet."""
    held_for_me: Decimal
    """In escrow for the jobs they were given (a disputed one waits for the arbiter)."""
    paid: Decimal
    """Sent to their phone: releases and dispute shares, refunds and money paid too much."""
    paying: Decimal
    """On its way to their phone."""
    failed: Decimal
    """Failed to reach their phone, still theirs: an operator sends it again."""
    payouts: list[MobileMoneyPayout]
    """Every payout to them, newest first; a failed one that was retried stands as its retry."""


def user_money(*, user: object) -> UserMoney:
    def held(escrows: QuerySet[EscrowContract]) -> Decimal:
        return (
            total(escrows, "funded_amount")
            - total(escrows, "released_amount")
            - total(escrows, "refunded_amount")
        )

    payouts = live_payouts().filter(paid_to=user)
    return UserMoney(
        held_by_me=held(EscrowContract.objects.filter(employer=user)),
        held_for_me=held(EscrowContract.objects.filter(employee=user)),
        paid=total(payouts.filter(status=PayoutStatus.COMPLETED), "amount"),
        paying=total(
            payouts.filter(status__in=[PayoutStatus.PENDING, PayoutStatus.PROCESSING]), "amount"
        ),
        failed=total(payouts.filter(status=PayoutStatus.FAILED), "amount"),
        payouts=list(
            payouts.select_related("escrow_contract__job_listing").order_by("-created_at", "-id")
        ),
    )


UNPAID = [PayoutStatus.PENDING, PayoutStatus.PROCESSING, PayoutStatus.FAILED]


def payouts_unpaid() -> QuerySet[MobileMoneyPayout]:
    """Payouts standing for money owed to a phone and not on it yet: pending, processing, or
    failed and not retried (a retried one is replaced by its retry)."""
    return live_payouts().filter(status__in=UNPAID)


def payouts_failed() -> QuerySet[MobileMoneyPayout]:
    """Failed payouts nobody has retried yet."""
    return live_payouts().filter(status=PayoutStatus.FAILED)


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
