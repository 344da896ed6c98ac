"""Payouts straight from our B2C shortcode with Daraja's B2C Payment Request v3, through the
shared Daraja client (one OAuth token). Our payout reference is the OriginatorConversationID,
which M-Pesa refuses to see twice. Daraja answers "accepted" at once, with the ConversationID
(and OriginatorConversationID) it gave the request, which are kept on the payout; the outcome
comes later: the Result at /api/callbacks/b2c/result/, or a notice at .../timeout/ when the
request timed out in its queue (outcome still unknown). An unknown outcome is resolved with the
Transaction Status API keyed by the same OriginatorConversationID, whose answer arrives at
.../status/. News is matched to the payout by those ids and by the receipt, never by what
ReferenceData echoes (Safaricom's own Transaction Status sample has an Occasion without Value)."""

from collections.abc import Iterable
from decimal import Decimal

from mpesa.daraja import DarajaClient, DarajaError, DarajaUnavailable
from payouts.providers.base import PayoutKeys, PayoutResult, PayoutUnavailable, mpesa_refusal

# Transaction Status' words for a transaction that went through, or never will.
PAID_STATUS = "Completed"
FAILED_STATUSES = {"Failed", "Declined", "Cancelled", "Expired"}
REQUEST_IDS = ("OriginatorConversationID", "ConversationID")


def _keys(ids: Iterable[object], receipts: Iterable[object]) -> PayoutKeys:
    return PayoutKeys(frozenset(str(i) for i in ids if i), frozenset(str(r) for r in receipts if r))


def result_keys(result: dict) -> PayoutKeys:
    """A B2C Result (or its queue timeout) names the request by its ids and, once paid, the
    receipt."""
    return _keys([result[name] for name in REQUEST_IDS], [result["TransactionID"]])


def status_keys(result: dict) -> PayoutKeys:
    """A Transaction Status result's own ids are the query's; the payment's come in its
    ResultParameters."""
    values = result["ResultParameters"]
    return _keys([values.get(name) for name in REQUEST_IDS], [values.get("ReceiptNo")])


def result_outcome(result: dict) -> PayoutResult:
    """The B2C Result: ResultCode 0 is paid (TransactionID is the M-Pesa receipt), any other
    code is M-Pesa's decided refusal, with its description as the reason."""
    receipt = str(result.get("TransactionID") or "")
    if str(result.get("ResultCode")) == "0":
        return PayoutResult("completed", receipt)
    return PayoutResult("failed", "", f"{result.get('ResultCode')}: {result.get('ResultDesc')}")


def status_outcome(result: dict) -> PayoutResult:
    """A Transaction Status answer (validated: `ResultParameters` as a mapping) about a B2C
    payment. A query that failed, or found nothing, decides nothing ("not_found"): M-Pesa may
    still be processing it."""
    values = result["ResultParameters"]
    status = str(values.get("TransactionStatus") or "")
    if str(result.get("ResultCode")) != "0":
        return PayoutResult("not_found", "", str(result.get("ResultDesc") or ""))
    if status == PAID_STATUS:
        return PayoutResult("completed", str(values.get("ReceiptNo") or ""))
    if status in FAILED_STATUSES:
        return PayoutResult("failed", "", str(values.get("ReasonType") or status)[:255])
    return PayoutResult("accepted")


class MpesaB2CProvider:
    def __init__(
        self, daraja: DarajaClient, *, result_url: str, timeout_url: str, status_url: str
    ) -> None:
        self.daraja = daraja
        self.result_url = result_url
        self.timeout_url = timeout_url
        self.status_url = status_url

    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult:
        if refusal := mpesa_refusal(amount):
            return refusal
        try:
            answer = self.daraja.b2c_payment(
                originator_conversation_id=reference,
                msisdn=msisdn,
                amount=int(amount),
                remarks=f"Kazi Trust payout {reference}",
                occasion=reference,
                result_url=self.result_url,
                timeout_url=self.timeout_url,
            )
        except DarajaError as refused:
            return PayoutResult("failed", "", f"{refused.code}: {refused.message}"[:255])
        except DarajaUnavailable as exc:
            raise PayoutUnavailable(f"Daraja B2C: {exc}", exc.retry_after) from None
        ids = {name: str(answer[name]) for name in REQUEST_IDS if answer.get(name)}
        return PayoutResult("accepted", request_ids=ids)

    def status(self, *, reference: str) -> PayoutResult:
        """Ask M-Pesa; the answer comes to the status callback, so for now it is in flight."""
        try:
            self.daraja.transaction_status(
                originator_conversation_id=reference,
                occasion=reference,
                result_url=self.status_url,
                timeout_url=self.timeout_url,
            )
        except DarajaUnavailable as exc:
            raise PayoutUnavailable(f"Daraja Transaction Status: {exc}", exc.retry_after) from None
        except DarajaError as exc:  # a refused query says nothing about the payment
            raise PayoutUnavailable(f"Daraja Transaction Status: {exc}") from None
        return PayoutResult("accepted")
