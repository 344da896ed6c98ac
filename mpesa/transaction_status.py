"""Transaction Status results about money received: they name a receipt, never an account, so
they complete what the other routes reported (mpesa/deposits.py, mpesa/stk.py) and credit nothing
on their own."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q

from mpesa.deposits import CENT
from mpesa.models import MpesaDeposit, StkPushRequest, StkStatus
from mpesa.payers import full_msisdn, mpesa_time, same_payer
from mpesa.stk import stk_apply_result


def deposit_apply_transaction_status(values: dict[str, Any]) -> str:
    """Transaction Status described a completed payment into our Pay Bill (`values`: its
    ResultParameters): a payment we know by its receipt is left alone; one we credited from an
    STK query gets its receipt; a prompt still waiting is paid with it. Otherwise nothing is
    credited: the result names no account, so the payment waits for reconciliation."""
    receipt = str(values.get("ReceiptNo") or "")[:20]
    paid_at = mpesa_time(values.get("InitiatedTime")) or mpesa_time(values.get("FinalisedTime"))
    try:
        amount = Decimal(str(values.get("Amount"))).quantize(CENT)
    except ArithmeticError:
        return f"receipt {receipt or '?'}: unreadable Amount"
    if not receipt or paid_at is None:
        return "no ReceiptNo or time: nothing to match"
    payer = str(values.get("DebitPartyName") or "")
    if MpesaDeposit.objects.filter(
        Q(receipt_number=receipt) | Q(transaction_reference=receipt)
    ).exists():
        return f"{receipt} already recorded"
    window = settings.MPESA_SAME_PAYMENT_WINDOW
    for prompt in StkPushRequest.objects.filter(
        amount=amount, created_at__range=(paid_at - window, paid_at + window)
    ).select_related("deposit"):
        unnamed = prompt.status == StkStatus.PENDING or (
            prompt.deposit is not None and not prompt.deposit.receipt_number
        )
        if unnamed and same_payer(prompt.phone_number, payer):
            stk_apply_result(
                checkout_request_id=prompt.checkout_request_id,
                result_code="0",
                receipt_number=receipt,
                amount=amount,
                payer=full_msisdn(payer) or "",
            )
            return f"{receipt} is the payment of prompt {prompt.checkout_request_id}"
    return f"{receipt}: no payment of ours matches; left for reconciliation"
