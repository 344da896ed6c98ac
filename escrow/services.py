"""Escrow business operations. Callers hold the row locks (job, then escrow) and the transaction;
ledger calls are queued as LedgerOperation rows and carried out after commit."""

import logging
import re
from decimal import Decimal

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from stellar_sdk import MuxedAccount

from accounts.models import User
from escrow.ledger import LedgerReceipt, LedgerRejected, LedgerUnavailable, get_ledger
from escrow.models import (
    ESCROW_MACHINE,
    Dispute,
    EscrowContract,
    EscrowStatus,
    LedgerOperation,
    LedgerOperationKind,
    LedgerOperationStatus,
)
from escrow.references import new_reference
from jobs.models import JobListing
from kazi.errors import Conflict, DomainError
from kazi.events import announce
from kazi.money import MIN_MPESA_PAYOUT, to_chain
from kazi.outbound import dispatch_on_commit
from notifications.messages import Event
from notifications.services import notify

log = logging.getLogger(__name__)


def escrow_open(*, job: JobListing) -> EscrowContract:
    """Our record and reference for a new job's escrow. The on-chain escrow is created with the
    first deposit, so the budget can still change until money arrives."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return EscrowContract.objects.create(
                    contract_id=new_reference(),
                    job_listing=job,
                    employer=job.employer,
                    amount=job.budget,
                )
        except IntegrityError:
            continue  # 35 random bits collided with an existing reference: draw again
    raise RuntimeError("could not draw a free escrow reference")


def escrow_payee(user: User) -> str:
    """The worker's own Stellar account, else the platform's payout account muxed with their id,
    so every release is attributable to one worker on chain."""
    if user.stellar_account_id:
        return user.stellar_account_id
    return MuxedAccount(settings.STELLAR_PAYOUT_ACCOUNT, user.pk).account_muxed


def escrow_set_amount(*, escrow: EscrowContract, amount: Decimal) -> None:
    if escrow.funded_amount or escrow.operations.exists():
        raise Conflict("The budget cannot change once money has been deposited.")
    escrow.amount = amount
    escrow.save(update_fields=["amount", "updated_at"])


def escrow_credit(*, escrow: EscrowContract, amount: Decimal, source_key: str) -> None:
    """Credit part of a deposit (`source_key`) to the escrow; never more than it still needs."""
    if not 0 < amount <= escrow.remaining_amount:
        raise Conflict(
            f"Cannot credit KES {amount} to {escrow}: it needs {escrow.remaining_amount}."
        )
    operations = []
    if not escrow.funded_amount:  # the first money: the escrow is created on chain with it
        operations.append(_operation(escrow, LedgerOperationKind.CREATE, amount=escrow.amount))
        if escrow.employee_id:
            payee = escrow_payee(escrow.employee)
            operations.append(_operation(escrow, LedgerOperationKind.ASSIGN, payee=payee))
    operations.append(
        _operation(escrow, LedgerOperationKind.FUND, amount=amount, key_suffix=source_key)
    )
    LedgerOperation.objects.bulk_create(operations)
    # Decimal arithmetic under the row lock: exact on every database (SQLite computes F() sums
    # of decimals in floating point).
    escrow.funded_amount += amount
    changed = ["funded_amount", "updated_at"]
    if escrow.funded_amount == escrow.amount:
        ESCROW_MACHINE.apply(escrow, "fund")
        escrow.funded_at = timezone.now()
        changed += ["status", "funded_at"]
    escrow.save(update_fields=changed)
    # The ledger's sync, the work starting if its worker is assigned, and the messages: after
    # commit, from one row (escrow/handlers.py); the ledger sweep catches operations left.
    announce(
        "escrow.credited",
        escrow_id=escrow.pk,
        amount=str(amount),
        owed=str(escrow.remaining_amount),
        key=source_key,
    )


def escrow_assign(*, escrow: EscrowContract, employee: User) -> None:
    escrow.employee = employee
    escrow.save(update_fields=["employee", "updated_at"])
    if escrow.operations.filter(kind=LedgerOperationKind.CREATE).exists():
        _enqueue(escrow, LedgerOperationKind.ASSIGN, payee=escrow_payee(employee))
        _sync_after_commit(escrow)


def escrow_start(*, escrow: EscrowContract) -> None:
    ESCROW_MACHINE.apply(escrow, "start")
    escrow.save(update_fields=["status", "updated_at"])


def escrow_refund(*, escrow: EscrowContract) -> None:
    """Whatever the escrow holds becomes owed back to the employer."""
    ESCROW_MACHINE.apply(escrow, "refund")
    escrow.refunded_amount = escrow.held_amount
    escrow.save(update_fields=["status", "refunded_amount", "updated_at"])
    if escrow.operations.filter(kind=LedgerOperationKind.CREATE).exists():
        _enqueue(escrow, LedgerOperationKind.REFUND)
        _sync_after_commit(escrow)


def escrow_complete(*, escrow: EscrowContract) -> None:
    ESCROW_MACHINE.apply(escrow, "complete")
    escrow.save(update_fields=["status", "updated_at"])
    _enqueue(escrow, LedgerOperationKind.RELEASE)
    _sync_after_commit(escrow)


def escrow_dispute(*, escrow: EscrowContract, raised_by: User, reason: str) -> Dispute:
    """Freeze a fully funded escrow until an arbiter splits it (the contract disputes only
    those: a part-paid escrow is cancelled and refunded instead)."""
    if escrow.status not in {EscrowStatus.FUNDED, EscrowStatus.IN_PROGRESS}:
        raise Conflict(
            f"Only a fully paid escrow that is not yet released can be disputed; {escrow} is "
            f"{escrow.get_status_display().lower()} and holds KES {escrow.held_amount}."
        )
    ESCROW_MACHINE.apply(escrow, "dispute")
    escrow.save(update_fields=["status", "updated_at"])
    dispute = Dispute.objects.create(escrow=escrow, raised_by=raised_by, reason=reason)
    _enqueue(escrow, LedgerOperationKind.DISPUTE)
    _sync_after_commit(escrow)
    return dispute


def escrow_resolve(
    *, escrow: EscrowContract, arbiter: User, to_employee: Decimal, to_employer: Decimal, note: str
) -> Dispute:
    """Split what a disputed escrow holds (P14: shares >= 0 adding up to exactly it); each side
    is paid its share once the ledger confirms the split."""
    if escrow.status != EscrowStatus.DISPUTED:
        raise Conflict(f"{escrow} is {escrow.status}; only a disputed escrow can be resolved.")
    held = escrow.held_amount
    if min(to_employee, to_employer) < 0 or to_employee + to_employer != held:
        raise DomainError(
            f"The shares must be zero or more and add up to KES {held}, what the escrow holds.",
            code="invalid_split",
        )
    _check_payable(held, to_employee, to_employer)
    ESCROW_MACHINE.apply(escrow, "resolve")
    escrow.released_amount, escrow.refunded_amount = to_employee, to_employer
    escrow.save(update_fields=["status", "released_amount", "refunded_amount", "updated_at"])
    dispute = Dispute.objects.select_for_update().get(escrow=escrow)
    dispute.resolved_by, dispute.resolved_at = arbiter, timezone.now()
    dispute.to_employee, dispute.to_employer, dispute.note = to_employee, to_employer, note
    dispute.save()
    _enqueue(escrow, LedgerOperationKind.RESOLVE, amount=to_employee, funder_amount=to_employer)
    _sync_after_commit(escrow)
    return dispute


def _check_payable(held: Decimal, *shares: Decimal) -> None:
    """Each share is paid to a phone by mobile money, which moves whole shillings from KES 10: a
    share it cannot send would stay owed for good (P12). An escrow from before whole-shilling
    budgets holds cents, which one share has to carry."""
    if held == held.to_integral_value() and any(s != s.to_integral_value() for s in shares):
        raise DomainError(
            "Mobile money pays whole shillings: give each share without cents.",
            code="invalid_split",
        )
    if any(0 < share < MIN_MPESA_PAYOUT for share in shares):
        raise DomainError(
            f"Mobile money pays at least KES {MIN_MPESA_PAYOUT}: give a share of 0 or at least "
            "that.",
            code="invalid_split",
        )


def _operation(
    escrow: EscrowContract,
    kind: str,
    *,
    amount: Decimal | None = None,
    funder_amount: Decimal | None = None,
    payee: str = "",
    key_suffix: str = "",
) -> LedgerOperation:
    key = f"{escrow.contract_id}:{kind}" + (f":{key_suffix}" if key_suffix else "")
    return LedgerOperation(
        escrow=escrow,
        kind=kind,
        idempotency_key=key,
        amount=amount,
        funder_amount=funder_amount,
        payee=payee,
    )


def _enqueue(escrow: EscrowContract, kind: str, **details: object) -> LedgerOperation:
    operation = _operation(escrow, kind, **details)
    operation.save(force_insert=True)
    return operation


def _sync_after_commit(escrow: EscrowContract) -> None:
    dispatch_on_commit("escrow.tasks.ledger_sync", escrow.pk)


# --- carrying out the queued operations -----------------------------------------------------


def _call_ledger(op: LedgerOperation) -> LedgerReceipt:
    ledger = get_ledger()
    ref, key = op.escrow.contract_id, op.idempotency_key
    match op.kind:
        case LedgerOperationKind.CREATE:
            return ledger.create(reference=ref, amount=to_chain(op.amount), idempotency_key=key)
        case LedgerOperationKind.FUND:
            return ledger.fund(reference=ref, amount=to_chain(op.amount), idempotency_key=key)
        case LedgerOperationKind.ASSIGN:
            return ledger.assign(reference=ref, payee=op.payee, idempotency_key=key)
        case LedgerOperationKind.RELEASE:
            return ledger.release(reference=ref, idempotency_key=key)
        case LedgerOperationKind.REFUND:
            return ledger.refund(reference=ref, idempotency_key=key)
        case LedgerOperationKind.DISPUTE:
            return ledger.dispute(reference=ref, idempotency_key=key)
        case LedgerOperationKind.RESOLVE:
            return ledger.resolve(
                reference=ref,
                to_payee=to_chain(op.amount),
                to_funder=to_chain(op.funder_amount),
                idempotency_key=key,
            )
    raise ValueError(f"unknown ledger operation {op.kind}")


def ledger_sync(*, escrow_id: int) -> None:
    """Carry out the escrow's pending ledger operations in order. Safe to run twice at once:
    the ledger applies each idempotency key once and confirmation happens under a lock."""
    pending = LedgerOperation.objects.select_related("escrow").filter(escrow_id=escrow_id)
    while op := pending.exclude(status=LedgerOperationStatus.SUCCEEDED).first():
        if op.status == LedgerOperationStatus.FAILED:
            return  # later operations wait for an operator to resolve this one
        LedgerOperation.objects.filter(pk=op.pk).update(
            attempts=F("attempts") + 1, updated_at=timezone.now()
        )
        try:
            receipt = _call_ledger(op)
        except LedgerUnavailable as exc:
            LedgerOperation.objects.filter(pk=op.pk).update(last_error=str(exc)[:500])
            raise
        except LedgerRejected as exc:
            log.error("ledger rejected %s: %s", op.idempotency_key, exc)
            LedgerOperation.objects.filter(pk=op.pk, status=LedgerOperationStatus.PENDING).update(
                status=LedgerOperationStatus.FAILED, last_error=str(exc)[:500]
            )
            return
        ledger_operation_confirm(op_id=op.pk, tx_hash=receipt.tx_hash)


@transaction.atomic
def ledger_operation_confirm(*, op_id: int, tx_hash: str) -> None:
    escrow_id = LedgerOperation.objects.values_list("escrow_id", flat=True).get(pk=op_id)
    escrow = EscrowContract.objects.select_for_update().get(pk=escrow_id)
    op = LedgerOperation.objects.select_for_update().get(pk=op_id)
    if op.status != LedgerOperationStatus.PENDING:
        return
    op.status = LedgerOperationStatus.SUCCEEDED
    op.tx_hash = tx_hash
    op.completed_at = timezone.now()
    op.save(update_fields=["status", "tx_hash", "completed_at", "updated_at"])
    if op.kind == LedgerOperationKind.RELEASE:
        ESCROW_MACHINE.apply(escrow, "confirm_release")
        escrow.released_amount = escrow.held_amount
        escrow.released_at = op.completed_at
        escrow.save(update_fields=["status", "released_amount", "released_at", "updated_at"])
        notify(
            user=escrow.employee,
            event=Event.RELEASED,
            subject=escrow.contract_id,
            job=escrow.job_listing.title,
            amount=escrow.released_amount,
        )
    if op.kind in MONEY_LEAVES_WITH:
        # Money left the escrow on chain: money out (a higher layer) sends it to phones.
        announce("escrow.money_left", escrow_id=escrow.pk, operation_id=op.pk)


# The ledger operations after which money that left the escrow on chain is owed to phones.
MONEY_LEAVES_WITH = {
    LedgerOperationKind.RELEASE,
    LedgerOperationKind.REFUND,
    LedgerOperationKind.RESOLVE,
}


_RETRY_SUFFIX = re.compile(r":r(\d+)$")


@transaction.atomic
def ledger_operation_retry(*, op_id: int, by: User) -> LedgerOperation:
    """A new attempt at a failed ledger operation, which otherwise blocks its escrow's queue for
    good: the operation goes back to pending under a new idempotency key (`<key>:r2`, `:r3`, ...)
    and the escrow's queue is synced after commit, this operation first.

    A new key, because the Stellar contract service keeps the final answer of every key: the old
    key would only replay its refusal. The old key and its error are kept in the operation's
    history (the admin's LogEntry, by `by`).

    A retry cannot move money twice. The operation failed on a definite refusal, so nothing was
    applied under its key; and should the chain show its effect anyway (applied by an earlier
    attempt or by hand with the operator CLI), the contract's own state checks refuse the new
    attempt: an escrow is created once (already_exists), never funded past its amount
    (over_funded), released, refunded or resolved once (closed, not_disputed), disputed only
    while funded (in_dispute, not_funded). The retry then fails again with the contract's answer,
    and the money has moved once."""
    escrow_id = LedgerOperation.objects.values_list("escrow_id", flat=True).get(pk=op_id)
    escrow = EscrowContract.objects.select_for_update().get(pk=escrow_id)  # locks: escrow, op
    op = LedgerOperation.objects.select_for_update().get(pk=op_id)
    if op.status != LedgerOperationStatus.FAILED:
        raise Conflict(
            f"{op.idempotency_key} is {op.status}; only a failed ledger operation is retried."
        )
    failed_key, error = op.idempotency_key, op.last_error
    earlier = _RETRY_SUFFIX.search(failed_key)
    base = failed_key[: earlier.start()] if earlier else failed_key
    op.idempotency_key = f"{base}:r{int(earlier.group(1)) + 1 if earlier else 2}"
    op.status, op.last_error = LedgerOperationStatus.PENDING, ""
    op.save(update_fields=["idempotency_key", "status", "last_error", "updated_at"])
    history = (
        f"Retried as {op.idempotency_key}. {failed_key} failed after {op.attempts} "
        f"attempt(s): {error or 'no error recorded'}"
    )
    LogEntry.objects.log_actions(
        user_id=by.pk,
        queryset=[op],
        action_flag=CHANGE,
        change_message=history[:2000],
        single_object=True,
    )
    log.warning("ledger operation %s by %s. %s", op.pk, by, history)
    _sync_after_commit(escrow)
    return op
