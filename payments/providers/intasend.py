"""IntaSend's send-money API (developers.intasend.com: "Send Money", "M-Pesa B2C", "Transaction
Status", "Send Money Events"), Bearer secret-key auth:

- `POST /api/v1/send-money/initiate/` with provider `MPESA-B2C`, currency, `requires_approval`
  and one transaction {name, account (2547...), amount, narrative}; IntaSend answers with a
  batch: `tracking_id`, `nonce`, `status_code` BP103 (waiting approval) and its transactions.
- `POST /api/v1/send-money/approve/` with that batch sent back: only then does money move.
- `POST /api/v1/send-money/status/` with `tracking_id`; the webhook registered on the dashboard
  receives the same batch shape with its configured `challenge` at every status change.

We always ask for approval: an initiate whose answer is lost moves no money (it is never
approved), and the tracking id is saved before the approval, so a lost approval is resolved by
asking the status of that batch, never by starting another one."""

from decimal import Decimal

import httpx

from payments.providers.base import (
    PayoutResult,
    PayoutUnavailable,
    RequestRecords,
    cents_refusal,
)

INITIATE = "/api/v1/send-money/initiate/"
APPROVE = "/api/v1/send-money/approve/"
STATUS = "/api/v1/send-money/status/"
AWAITING_APPROVAL = "BP103"
FAILED_BATCH = {"BF102", "BF105", "BF107", "BE111"}  # failed or ended early: nothing was paid
TRANSACTION_OUTCOMES = {
    "TS100": "completed",
    "TF103": "failed",
    "TF106": "failed",
    "TC108": "failed",
}  # anything else (pending, in progress, retrying, under observation) is still in flight


class IntasendRefused(Exception):
    """IntaSend answered 4xx: the request was refused and nothing was started."""


def outcome(batch: dict) -> PayoutResult:
    """What a status answer or an event says about our batch of one transaction. A batch still
    waiting for approval is "not_found": no transfer has started under it."""
    items = batch.get("transactions") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    code = str(batch.get("status_code") or "")
    reference = str(item.get("provider_reference") or item.get("transaction_id") or "")
    reason = str(item.get("status_description") or batch.get("status") or "")[:255]
    if code == AWAITING_APPROVAL:
        return PayoutResult("not_found")
    if code in FAILED_BATCH:
        return PayoutResult("failed", reference, reason)
    result = TRANSACTION_OUTCOMES.get(str(item.get("status_code") or ""), "accepted")
    return PayoutResult(result, reference, reason if result == "failed" else "")


class IntasendProvider:
    def __init__(
        self,
        base_url: str,
        secret_key: str,
        records: RequestRecords,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.records = records
        self.http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Bearer {secret_key}"},
        )

    def _post(self, path: str, payload: dict) -> dict:
        try:
            response = self.http.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise PayoutUnavailable(f"IntaSend {path}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise PayoutUnavailable(f"IntaSend {path}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise PayoutUnavailable(f"IntaSend {path}: unreadable answer") from None
        if response.status_code >= 400:
            raise IntasendRefused(str(body.get("details") or body.get("errors") or body)[:255])
        return body

    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult:
        if refusal := cents_refusal(amount):
            return refusal
        record = self.records.get(reference)
        try:
            if record.get("tracking_id"):
                batch = self._status(record["tracking_id"])
            else:
                batch = self._post(
                    INITIATE,
                    {
                        "provider": "MPESA-B2C",
                        "currency": "KES",
                        "requires_approval": "YES",
                        "transactions": [
                            {
                                "name": "Kazi Trust worker",
                                "account": msisdn,
                                "amount": int(amount),
                                "narrative": reference,  # our reference, echoed in every event
                            }
                        ],
                    },
                )
                record = {"tracking_id": batch["tracking_id"], "nonce": batch["nonce"]}
                self.records.save(reference, record)
            if outcome(batch).outcome == "not_found":
                batch = self._post(APPROVE, {**batch, **record})
        except IntasendRefused as refused:  # initiate or approve refused: no money can move
            return PayoutResult("failed", "", str(refused))
        return outcome(batch)

    def status(self, *, reference: str) -> PayoutResult:
        tracking_id = self.records.get(reference).get("tracking_id")
        if not tracking_id:
            return PayoutResult("not_found")  # never initiated, or never approved: nothing moved
        return outcome(self._status(tracking_id))

    def _status(self, tracking_id: str) -> dict:
        """A refused status query (a rotated key, a batch IntaSend cannot find) decides
        nothing about a batch we may have approved: the outcome stays unknown."""
        try:
            return self._post(STATUS, {"tracking_id": tracking_id})
        except IntasendRefused as refused:
            raise PayoutUnavailable(f"IntaSend status of {tracking_id}: {refused}") from None
