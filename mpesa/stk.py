"""STK push: a payment prompt on the employer's phone for what an escrow still needs."""

import math
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from rest_framework import status

from accounts.models import User
from accounts.phones import msisdn
from escrow.models import EscrowContract
from kazi.errors import Conflict, DomainError
from kazi.money import MAX_MPESA_TRANSACTION
from mpesa.daraja import DarajaError, DarajaUnavailable, callback_url, get_daraja
from mpesa.daraja.client import DarajaCredentialsRefused
from mpesa.deposits import ReceivedPayment, deposit_record
from mpesa.models import STK_MACHINE, MpesaDeposit, StkPushRequest, StkStatus

# What each result code means to the person who was prompted.
RESULT_MESSAGES = {
    "0": "Paid.",
    "1": "Not enough money in the M-Pesa account.",
    "17": "M-Pesa declined the payment for now. Try again in a few minutes.",
    "1019": "The prompt expired before it was answered.",
    "1025": "M-Pesa could not send the prompt. Try again.",
    "1032": "The payment was cancelled on the phone.",
    "1037": "The phone could not be reached. Check it is on and has signal.",
    "2001": "Wrong M-Pesa PIN.",
}


class ProviderUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "mpesa_unavailable"


class ProviderRefused(DomainError):
    status_code = status.HTTP_502_BAD_GATEWAY
    code = "mpesa_refused"


def result_message(code: str) -> str:
    return RESULT_MESSAGES.get(code, "The payment failed.")


@transaction.atomic
def stk_request(
    *, escrow: EscrowContract, user: User, phone_number: str, amount: Decimal | None = None
) -> StkPushRequest:
    """Prompt `phone_number` to pay (by default) what the escrow still needs, in whole shillings
    as M-Pesa takes them, at most one transaction's limit. The row is written in the same
    transaction as the request, so the callback, dispatched on commit, always finds it."""
    owed = escrow.remaining_amount
    if owed <= 0:
        raise Conflict("Nothing is owed on this escrow.")
    most = min(Decimal(math.ceil(owed)), MAX_MPESA_TRANSACTION).quantize(Decimal("0.01"))
    amount = (amount or most).quantize(Decimal("0.01"))
    if amount > most:
        raise DomainError(f"At most KES {most} can be requested now.", code="amount_too_high")
    try:
        answer = get_daraja().stk_push(
            msisdn=msisdn(phone_number),
            amount=amount,
            account_reference=escrow.contract_id.removeprefix("ESCROW_"),
            description="Kazi escrow",
            callback_url=callback_url("mpesa-stk-callback"),
        )
    except DarajaCredentialsRefused:
        raise ProviderUnavailable(
            "M-Pesa payments are unavailable: Safaricom refused our M-Pesa credentials. "
            "Pay by Pay Bill, or try again later."
        ) from None
    except DarajaUnavailable:
        raise ProviderUnavailable("M-Pesa did not answer. Try again in a minute.") from None
    except DarajaError as exc:
        raise ProviderRefused(f"M-Pesa refused the prompt: {exc.message}") from None
    return StkPushRequest.objects.create(
        checkout_request_id=answer["CheckoutRequestID"],
        merchant_request_id=answer.get("MerchantRequestID", ""),
        escrow_contract=escrow,
        requested_by=user,
        phone_number=phone_number,
        amount=amount,
    )


@transaction.atomic(savepoint=False)  # the caller's transaction, if any: no savepoint
def stk_apply_result(
    *,
    checkout_request_id: str,
    result_code: str,
    receipt_number: str = "",
    amount: Decimal | None = None,
    payer: str = "",
    paid_at: datetime | None = None,
) -> StkPushRequest:
    """Record the outcome of a prompt (from its callback, a query or Transaction Status), once.
    A paid prompt credited from the query's answer, which carries no receipt, gets its receipt
    from a later report."""
    stk = StkPushRequest.objects.select_for_update(of=("self",)).select_related("escrow_contract")
    stk = stk.get(checkout_request_id=checkout_request_id)
    paid = result_code == "0"
    if stk.status != StkStatus.PENDING and not (
        paid and receipt_number and stk.status == StkStatus.COMPLETED
    ):
        return stk
    if paid:
        stk.deposit = deposit_record(
            payment=ReceivedPayment(
                trans_id=checkout_request_id,
                amount=amount or stk.amount,
                bill_ref_number=stk.escrow_contract.contract_id,
                msisdn=payer or stk.phone_number,
                payer_name="",
                trans_time="",
                paid_at=paid_at or stk.created_at,
                source=MpesaDeposit.Source.STK,
                receipt_number=receipt_number,
            ),
            callback=None,
        )
    if stk.status == StkStatus.PENDING:
        STK_MACHINE.apply(stk, "succeed" if paid else "fail")
        stk.result_code = result_code
        stk.result_message = result_message(result_code)
        stk.resolved_at = timezone.now()
    stk.save()
    return stk


def stk_resolve_by_query(*, stk: StkPushRequest) -> StkPushRequest:
    """A prompt whose callback never came: ask Daraja, never prompt again."""
    try:
        answer = get_daraja().stk_query(checkout_request_id=stk.checkout_request_id)
    except (DarajaError, DarajaUnavailable):
        return stk  # still being processed, or no answer: ask again later
    return stk_apply_result(
        checkout_request_id=stk.checkout_request_id, result_code=str(answer["ResultCode"])
    )


def parse_amount(value: object) -> Decimal | None:
    """The callback's Amount (a JSON number in Daraja's payload) as exact KES."""
    if value is None:
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise ValueError(f"{value!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("amount must be positive")
    return amount
