"""Payouts: released escrow money sent to the worker's phone, exactly once per reference."""

import logging
import math
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.phones import msisdn
from escrow.models import EscrowContract
from kazi.errors import Conflict
from kazi.money import MAX_MPESA_TRANSACTION
from kazi.outbound import dispatch_on_commit
from notifications.sms import sms_send_after_commit
from payments.models import PAYOUT_MACHINE, MobileMoneyPayout, PayoutStatus
from payments.providers import PayoutResult, get_payout_provider

log = logging.getLogger(__name__)

_ACTIONS = {"accepted": "submit", "completed": "succeed", "failed": "fail"}


def split_amount(total: Decimal) -> list[Decimal]:
    """Equal parts of at most one mobile-money transaction's limit (KES 250,000), in whole
    shillings (M-Pesa moves no cents) with any cents of the total in the last part; every part
    stays above the KES 10 minimum since budgets start at KES 10."""
    count = math.ceil(total / MAX_MPESA_TRANSACTION)
    part = (total / count).quantize(Decimal("1"), rounding=ROUND_DOWN)
    return [part] * (count - 1) + [total - part * (count - 1)]


class PayoutRequestRecords:
    """The provider's ids for a payout's request, kept on the payout row. Adapters save them
    during `payout_send`, which runs outside any transaction, so they are committed before the
    call that can move money is made."""

    def get(self, reference: str) -> dict[str, str]:
        found = MobileMoneyPayout.objects.filter(reference=reference)
        return found.values_list("provider_request", flat=True).first() or {}

    def save(self, reference: str, record: dict[str, str]) -> None:
        MobileMoneyPayout.objects.filter(reference=reference).update(
            provider_request=record, updated_at=timezone.now()
        )


def payout_open(
    *, escrow: EscrowContract, payee: str = "", release_tx_hash: str = ""
) -> list[MobileMoneyPayout]:
    """Record the payout of a released escrow (caller holds the escrow lock) and send it after
    commit, split when it exceeds one transaction's limit. References derive from the escrow,
    so the same payout cannot be recorded twice."""
    base = "PAYOUT_" + escrow.contract_id.removeprefix("ESCROW_")
    parts = split_amount(escrow.released_amount)
    from payments.tasks import payout_send  # the tasks module imports this one

    payouts = []
    for number, amount in enumerate(parts, 1):
        payout = MobileMoneyPayout.objects.create(
            escrow_contract=escrow,
            employee=escrow.employee,
            reference=base if len(parts) == 1 else f"{base}-P{number}",
            phone_number=escrow.employee.phone_number,
            amount=amount,
            payee=payee,
            release_tx_hash=release_tx_hash,
        )
        dispatch_on_commit(payout_send, payout.pk)
        payouts.append(payout)
    return payouts


@transaction.atomic
def payout_retry(*, payout_id: int) -> MobileMoneyPayout:
    """A new attempt at a failed payout, under a new reference: the failed one stays failed, so
    whatever its provider does later cannot pay twice (MONEY-SAFETY P5)."""
    failed = MobileMoneyPayout.objects.select_related("escrow_contract").get(pk=payout_id)
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
        escrow_contract=failed.escrow_contract,
        employee=failed.employee,
        reference=f"{earlier.reference}-R{attempt}",
        phone_number=failed.employee.phone_number,
        amount=failed.amount,
        payee=failed.payee,
        release_tx_hash=failed.release_tx_hash,
        retry_of=failed,
    )
    from payments.tasks import payout_send as send_task  # the tasks module imports this one

    dispatch_on_commit(send_task, retry.pk)
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


@transaction.atomic
def payout_apply_result(*, reference: str, result: PayoutResult) -> MobileMoneyPayout:
    """Record what the provider said. Late, repeated or out-of-order news never changes a
    decided outcome."""
    payout = MobileMoneyPayout.objects.select_for_update().get(reference=reference)
    action = _ACTIONS.get(result.outcome)
    if action is None or not PAYOUT_MACHINE.allows(payout.status, action):
        log.info("payout %s: ignored %s while %s", reference, result.outcome, payout.status)
        return payout
    PAYOUT_MACHINE.apply(payout, action)
    payout.transaction_reference = result.transaction_reference or payout.transaction_reference
    if payout.status == PayoutStatus.FAILED:
        payout.failure_reason = result.reason[:255]
    if payout.status == PayoutStatus.COMPLETED:
        payout.completed_at = timezone.now()
        sms_send_after_commit(
            phone_number=payout.phone_number,
            message=f"Kazi Trust: KES {payout.amount:,.2f} for your work has been sent to this "
            f"number ({payout.transaction_reference or payout.reference}).",
        )
    payout.save()
    return payout


def payouts_stuck(*, older_than: datetime) -> dict[str, list[int]]:
    stuck = MobileMoneyPayout.objects.filter(updated_at__lt=older_than)
    return {
        status: list(stuck.filter(status=status).values_list("pk", flat=True))
        for status in (PayoutStatus.PENDING, PayoutStatus.PROCESSING)
    }
