"""Returning money M-Pesa brought us but no escrow needs: unmatched deposits and surpluses."""

from django.db import transaction
from django.db.models import Q

from accounts.models import User
from kazi.errors import Conflict
from kazi.outbound import dispatch_on_commit
from mpesa.daraja import DarajaError, DarajaUnavailable, callback_url, get_daraja
from mpesa.models import REVERSAL_MACHINE, MpesaDeposit, MpesaReversal, ReversalStatus


def owed_back(deposit: MpesaDeposit) -> object:
    return deposit.amount if deposit.is_unmatched else deposit.surplus_amount


@transaction.atomic
def reversal_request(*, deposit_id: int, requested_by: User | None) -> MpesaReversal:
    """Record that a deposit's owed-back money is to be returned, once per deposit."""
    deposit = MpesaDeposit.objects.select_for_update().get(pk=deposit_id)
    if hasattr(deposit, "reversal"):
        return deposit.reversal
    if deposit.payouts.exists():  # surpluses go back by payout on their own
        raise Conflict(f"{deposit.transaction_reference} is being returned by payout already.")
    amount = owed_back(deposit)
    if amount <= 0:
        raise Conflict(f"{deposit.transaction_reference}: nothing is owed back.")
    reversal = MpesaReversal.objects.create(
        deposit=deposit, amount=amount, requested_by=requested_by
    )

    dispatch_on_commit("mpesa.tasks.reversal_send", reversal.pk)
    return reversal


@transaction.atomic
def reversal_send(*, reversal_id: int) -> None:
    """Ask M-Pesa to reverse the deposit. M-Pesa reverses a transaction at most once, so a resend
    after a lost answer cannot return the money twice. The row stays locked until the answer is
    recorded, and the result callback is dispatched after commit, so it always finds the row."""
    reversal = (
        MpesaReversal.objects.select_for_update(of=("self",))
        .select_related("deposit")
        .get(pk=reversal_id)
    )
    if reversal.status != ReversalStatus.PENDING:
        return
    try:
        answer = get_daraja().reversal(
            trans_id=reversal.deposit.receipt_number or reversal.deposit.transaction_reference,
            amount=reversal.amount,
            result_url=callback_url("mpesa-reversal-result"),
            timeout_url=callback_url("mpesa-reversal-timeout"),
            remarks=f"Kazi Trust refund of {reversal.deposit.transaction_reference}",
        )
    except DarajaError as exc:
        REVERSAL_MACHINE.apply(reversal, "fail")
        reversal.result_code, reversal.result_message = exc.code, exc.message[:255]
    else:
        REVERSAL_MACHINE.apply(reversal, "submit")
        reversal.conversation_id = answer.get("ConversationID", "")
        reversal.originator_conversation_id = answer.get("OriginatorConversationID", "")
    reversal.save()


@transaction.atomic
def reversal_apply_result(
    *, conversation_id: str, result_code: str, message: str
) -> MpesaReversal | None:
    """Record M-Pesa's verdict on a reversal; repeated or late verdicts change nothing."""
    reversal = MpesaReversal.objects.select_for_update().filter(conversation_id=conversation_id)
    reversal = reversal.first() if conversation_id else None
    if reversal is None:
        return None
    action = "succeed" if str(result_code) == "0" else "fail"
    if REVERSAL_MACHINE.allows(reversal.status, action):
        REVERSAL_MACHINE.apply(reversal, action)
        reversal.result_code = str(result_code)
        reversal.result_message = message[:255]
        reversal.save()
    return reversal


def reversal_check(*, reversal: MpesaReversal) -> None:
    """A reversal whose result never came: ask M-Pesa for the original transaction's status
    (the answer arrives at the status result callback; no answer now means ask again later)."""
    try:
        get_daraja().transaction_status(
            trans_id=reversal.deposit.receipt_number or reversal.deposit.transaction_reference,
            result_url=callback_url("mpesa-status-result"),
            timeout_url=callback_url("mpesa-reversal-timeout"),
        )
    except (DarajaError, DarajaUnavailable):
        return


@transaction.atomic
def reversal_apply_status(*, trans_id: str, transaction_status: str) -> MpesaReversal | None:
    """Transaction Status said the original transaction is (or is not) reversed."""
    reversal = (
        MpesaReversal.objects.select_for_update()
        .filter(status=ReversalStatus.SUBMITTED)
        .filter(Q(deposit__receipt_number=trans_id) | Q(deposit__transaction_reference=trans_id))
        .first()
    )
    if reversal is not None and transaction_status == "Reversed":
        REVERSAL_MACHINE.apply(reversal, "succeed")
        reversal.result_message = "Confirmed by Transaction Status"
        reversal.save()
    return reversal
