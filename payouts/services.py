"""Payouts: money sent to a phone, exactly once per reference: releases and dispute shares to the
worker, refunds, dispute shares and surpluses back to the employer, unmatched money back to whoever
paid it."""

import logging
import math
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.phones import msisdn, normalise_phone
from escrow.models import EscrowContract
from kazi.errors import Conflict
from kazi.money import MAX_MPESA_TRANSACTION
from kazi.outbound import dispatch_on_commit
from mpesa.models import MpesaDeposit
from notifications.messages import Event
from notifications.services import notify
from payouts.models import (
    PAYOUT_MACHINE,
    MobileMoneyPayout,
    PayoutKind,
    PayoutRecipient,
    PayoutStatus,
)
from payouts.providers import PayoutResult, get_payout_provider

log = logging.getLogger(__name__)

_ACTIONS = {"accepted": "submit", "completed": "succeed", "failed": "fail"}


def split_amount(total: Decimal) -> list[Decimal]:
    """Equal parts of at most one mobile-money transaction's limit (KES 250,000), in whole
    shillings (M-Pesa moves no cents) with any cents of the total in the last part; every part
    stays above the KES 10 minimum since budgets start at KES 10."""
    count = math.ceil(total / MAX_MPESA_TRANSACTION)
    part = (total / count).quantize(Decimal("1"), rounding=ROUND_DOWN)
    return [part] * (count - 1) + [total - part * (count - 1)]


def payout_open(
    *,
    kind: str,
    recipient: str,
    user: User | None,
    amount: Decimal,
    reference: str,
    escrow: EscrowContract | None = None,
    deposit: MpesaDeposit | None = None,
    phone_number: str = "",
    payee: str = "",
    release_tx_hash: str = "",
) -> list[MobileMoneyPayout]:
    """Record money owed to a phone (the user's, unless another is given) and send it after
    commit, split when it exceeds one transaction's limit. The caller holds the lock of what is
    paid out, and `reference` derives from it (escrow and kind, or the deposit), so the same
    money cannot be recorded twice (MONEY-SAFETY P12)."""
    parts = split_amount(amount)
    payouts = []
    for number, part in enumerate(parts, 1):
        payout = MobileMoneyPayout.objects.create(
            kind=kind,
            recipient=recipient,
            escrow_contract=escrow,
            deposit=deposit,
            paid_to=user,
            reference=reference if len(parts) == 1 else f"{reference}-P{number}",
            phone_number=phone_number or user.phone_number,
            amount=part,
            payee=payee,
            release_tx_hash=release_tx_hash,
        )
        dispatch_on_commit("payouts.tasks.payout_send", payout.pk)
        payouts.append(payout)
    return payouts


@transaction.atomic
def payout_return_unmatched(
    *, deposit_id: int, phone_number: str, requested_by: User | None
) -> list[MobileMoneyPayout]:
    """An admin matched money that reached no escrow to the phone that paid it: send it back,
    once (a deposit returned by payout is never reversed as well, nor the other way round)."""
    deposit = MpesaDeposit.objects.select_for_update().get(pk=deposit_id)
    if not deposit.is_unmatched:
        raise Conflict(f"{deposit.transaction_reference} was credited to an escrow.")
    if deposit.payouts.exists() or hasattr(deposit, "reversal"):
        raise Conflict(f"{deposit.transaction_reference} is being returned already.")
    phone = normalise_phone(phone_number)
    log.info("unmatched %s returned by %s", deposit.transaction_reference, requested_by)
    return payout_open(
        kind=PayoutKind.SURPLUS,
        recipient=PayoutRecipient.EMPLOYER,
        user=User.objects.filter(phone_number=phone).first(),
        amount=deposit.amount,
        reference=f"RETURN_{deposit.transaction_reference}",
        deposit=deposit,
        phone_number=phone,
    )


@transaction.atomic
def payout_retry(*, payout_id: int) -> MobileMoneyPayout:
    """A new attempt at a failed payout, under a new reference: the failed one stays failed, so
    whatever its provider does later cannot pay twice (MONEY-SAFETY P5)."""
    failed = MobileMoneyPayout.objects.get(pk=payout_id)
    if failed.escrow_contract_id:
        EscrowContract.objects.select_for_update().get(pk=failed.escrow_contract_id)
    failed = MobileMoneyPayout.objects.select_for_update().get(pk=payout_id)
    if failed.status != PayoutStatus.FAILED:
        raise Conflict(f"{failed.reference} is {failed.status}; only failed payouts are retried.")
    if MobileMoneyPayout.objects.filter(retry_of=failed).exists():
        raise Conflict(f"{failed.reference} has been retried already.")
    attempt = 2
    earlier = failed
    while earlier.retry_of_id:
        attempt, earlier = attempt + 1, earlier.retry_of
    retry = MobileMoneyPayout.objects.create(
        kind=failed.kind,
        recipient=failed.recipient,
        escrow_contract=failed.escrow_contract,
        deposit=failed.deposit,
        paid_to=failed.paid_to,
        reference=f"{earlier.reference}-R{attempt}",
        # The user's number now: a wrong or changed number is the usual reason to retry.
        phone_number=failed.paid_to.phone_number if failed.paid_to else failed.phone_number,
        amount=failed.amount,
        payee=failed.payee,
        release_tx_hash=failed.release_tx_hash,
        retry_of=failed,
    )
    dispatch_on_commit("payouts.tasks.payout_send", retry.pk)
    return retry


def payout_send(*, payout_id: int) -> None:
    """Send a pending payout. After an attempt with an unknown outcome the provider is asked
    first, so a lost answer never turns into a second transfer."""
    payout = MobileMoneyPayout.objects.get(pk=payout_id)
    if payout.status != PayoutStatus.PENDING:
        return
    MobileMoneyPayout.objects.filter(pk=payout.pk).update(
        attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    provider = get_payout_provider()
    result = provider.status(reference=payout.reference) if payout.attempts else None
    if result is None or result.outcome == "not_found":
        result = provider.send(
            reference=payout.reference, msisdn=msisdn(payout.phone_number), amount=payout.amount
        )
    payout_apply_result(reference=payout.reference, result=result)


def payout_check(*, payout_id: int) -> None:
    """Ask the provider how a payout in flight went (for payouts whose callback never came)."""
    payout = MobileMoneyPayout.objects.get(pk=payout_id)
    if payout.status == PayoutStatus.PROCESSING:
        result = get_payout_provider().status(reference=payout.reference)
        if result.outcome != "not_found":
            payout_apply_result(reference=payout.reference, result=result)


@transaction.atomic(savepoint=False)  # the caller's transaction, if any: no savepoint
def payout_apply_result(*, reference: str, result: PayoutResult) -> MobileMoneyPayout:
    """Record what the provider said, and the ids it gave our request. Late, repeated or
    out-of-order news never changes a decided outcome."""
    payout = MobileMoneyPayout.objects.select_for_update().get(reference=reference)
    ids = {**payout.provider_request, **result.request_ids}
    new_ids = ids != payout.provider_request
    payout.provider_request = ids
    action = _ACTIONS.get(result.outcome)
    if action is None or not PAYOUT_MACHINE.allows(payout.status, action):
        log.info("payout %s: ignored %s while %s", reference, result.outcome, payout.status)
        if new_ids:  # facts about the request, whatever the order the news came in
            payout.save(update_fields=["provider_request", "updated_at"])
        return payout
    PAYOUT_MACHINE.apply(payout, action)
    payout.transaction_reference = result.transaction_reference or payout.transaction_reference
    if payout.status == PayoutStatus.FAILED:
        payout.failure_reason = result.reason[:255]
    if payout.status == PayoutStatus.COMPLETED:
        payout.completed_at = timezone.now()
    payout.save()
    _tell_the_payee(payout)
    return payout


def _tell_the_payee(payout: MobileMoneyPayout) -> None:
    """Once paid, or once it failed (M-Pesa tells a phone that is no user's itself)."""
    if payout.paid_to is None or payout.status not in {
        PayoutStatus.COMPLETED,
        PayoutStatus.FAILED,
    }:
        return
    if payout.escrow_contract:
        about = payout.escrow_contract.job_listing.title
    else:  # unmatched money: the account the payer typed
        about = payout.deposit.bill_ref_number
    if payout.status == PayoutStatus.FAILED:
        event = Event.PAYOUT_FAILED
    elif payout.recipient == PayoutRecipient.EMPLOYEE:
        event = Event.PAYOUT_SENT
    else:
        event = Event.REFUND_SENT
    notify(
        user=payout.paid_to,
        event=event,
        subject=payout.reference,
        amount=payout.amount,
        receipt=payout.transaction_reference or payout.reference,
        reason=payout.failure_reason,
        job=about,
    )


def payouts_stuck(*, older_than: datetime) -> dict[str, list[int]]:
    stuck = MobileMoneyPayout.objects.filter(updated_at__lt=older_than)
    return {
        status: list(stuck.filter(status=status).values_list("pk", flat=True))
        for status in (PayoutStatus.PENDING, PayoutStatus.PROCESSING)
    }
