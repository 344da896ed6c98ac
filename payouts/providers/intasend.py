"""IntaSend's send-money API (developers.intasend.com: "Send Money", "PSD2 and Digital Keys",
"Send Money Status", "Send money events"), Bearer secret-key auth:

- `POST /api/v1/send-money/initiate/` with provider `MPESA-B2C`, currency, `requires_approval`,
  one transaction {name, account (2547...), amount, narrative} and, when we have an API device,
  its `device_id`; IntaSend answers with the batch: `tracking_id`, `nonce`, "status": "Preview
  and approve" (`status_code` BP101 on one page, BP103 "waiting approval" in the status table,
  none at all on another) and its transactions.
- `POST /api/v1/send-money/approve/` with that answer sent back, its nonce replaced by the hex
  RSA signature (PKCS#1 v1.5, SHA-256) of the nonce with the device's private key when a device
  is configured: only then does money move.
- `POST /api/v1/send-money/status/` with `tracking_id`; the webhook registered on the dashboard
  receives the same batch shape with its configured `challenge` at every status change.

We always ask for approval: an initiate whose answer is lost moves no money (it is never
approved), and the tracking id and nonce are saved before the approval, so a lost approval is
settled by that same batch (asked about, and approved if it still waits), never by another one.
IntaSend's pages show states with and without codes: the code is read when there is one, else
the status words. They show refusals in two shapes too: `{"type": "client_error", "errors":
[{"code", "detail", "attr"}]}` (the errors page, whose example is an `authentication_failed` with
status 403 though its table says 401) and `{"detail": ...}` / `{"details": ...}` (older pages):
both are read, and a refused key is ours to fix, not a verdict, whichever status it comes with."""

from decimal import Decimal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.exceptions import ImproperlyConfigured

from kazi.unavailable import temporary
from payouts.providers.base import PayoutResult, PayoutUnavailable, RequestRecords, mpesa_refusal

INITIATE = "/api/v1/send-money/initiate/"
APPROVE = "/api/v1/send-money/approve/"
STATUS = "/api/v1/send-money/status/"
AWAITING_APPROVAL = "BP103"
BATCH_CODES = {
    "BP101": "awaiting approval",  # "new batch", as the initiate answer shows it
    AWAITING_APPROVAL: "awaiting approval",
    **dict.fromkeys(["BF102", "BF105", "BF107", "BE111"], "failed"),  # failed or ended early
}
BATCH_WORDS = {"preview and approve": "awaiting approval", "failed processing": "failed"}
TRANSACTION_CODES = {"TS100": "completed", **dict.fromkeys(["TF103", "TF106", "TC108"], "failed")}
TRANSACTION_WORDS = {
    "successful": "completed",
    **dict.fromkeys(["unsuccessful", "failed", "cancelled", "canceled"], "failed"),
}  # anything else (pending, in progress, retrying, under observation) is still in flight


AUTHENTICATION_CODES = {"authentication_failed", "not_authenticated"}


class IntasendRefused(Exception):
    """IntaSend answered 4xx (not 401, 408, 429, nor a refused key): the request was refused,
    nothing started."""


def _refusal(body: object) -> tuple[str, set[str]]:
    """What a refusal says, and its error codes, in either documented shape."""
    said = body if isinstance(body, dict) else {}
    errors = said.get("errors")
    if isinstance(errors, list) and errors:
        found = [e for e in errors if isinstance(e, dict)]
        details = "; ".join(
            f"{e['attr']}: {e.get('detail')}" if e.get("attr") else str(e.get("detail"))
            for e in found
        )
        return details, {str(e.get("code")) for e in found}
    return str(said.get("details") or said.get("detail") or ""), set()


def _state(entry: dict, codes: dict[str, str], words: dict[str, str]) -> str:
    """What an entry's code says, or without a code its status words; "" if neither tells."""
    if code := str(entry.get("status_code") or ""):
        return codes.get(code, "")
    return words.get(str(entry.get("status") or "").strip().lower(), "")


def awaiting_approval(batch: dict) -> bool:
    return _state(batch, BATCH_CODES, BATCH_WORDS) == "awaiting approval"


def outcome(batch: dict) -> PayoutResult:
    """What a status answer or an event says about our batch of one transaction. A batch
    waiting for approval is in flight: it is ours, and we approve it."""
    items = batch.get("transactions") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    reference = str(
        item.get("provider_reference")
        or item.get("mno_reference")
        or item.get("transaction_id")
        or ""
    )
    reason = str(item.get("status_description") or item.get("status") or batch.get("status") or "")
    if _state(batch, BATCH_CODES, BATCH_WORDS) == "failed":
        return PayoutResult("failed", reference, reason[:255])
    result = _state(item, TRANSACTION_CODES, TRANSACTION_WORDS) or "accepted"
    return PayoutResult(result, reference, reason[:255] if result == "failed" else "")


def device_key(pem: str) -> rsa.RSAPrivateKey:
    """The API device's private key (PEM, unencrypted) that signs approvals."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "INTASEND_DEVICE_PRIVATE_KEY is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured("INTASEND_DEVICE_PRIVATE_KEY must be an RSA key")
    return key


def signed_nonce(key: rsa.RSAPrivateKey, nonce: str) -> str:
    """IntaSend's approval signature: RSA PKCS#1 v1.5 over SHA-256 of the nonce, in hex."""
    return key.sign(nonce.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


class IntasendProvider:
    def __init__(
        self,
        base_url: str,
        secret_key: str,
        records: RequestRecords,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        *,
        device_id: str = "",
        device_private_key: str = "",
    ) -> None:
        if bool(device_id) != bool(device_private_key):
            raise ImproperlyConfigured(
                "INTASEND_DEVICE_ID and INTASEND_DEVICE_PRIVATE_KEY are set together or not at all"
            )
        self.records = records
        self.device: dict[str, int | str] = {}
        if device_id:
            self.device["device_id"] = int(device_id) if device_id.isdigit() else device_id
        self.device_key = device_key(device_private_key) if device_private_key else None
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
        # 401: a key IntaSend no longer takes (rotated?) is ours to fix, not a verdict.
        if temporary(response.status_code) or response.status_code == 401:
            raise PayoutUnavailable.answered(f"IntaSend {path}", response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            details, codes = _refusal(body)
            if codes & AUTHENTICATION_CODES:  # our key, refused with a 403
                raise PayoutUnavailable.answered(f"IntaSend {path}", response)
            raise IntasendRefused((details or response.text)[:255])
        if not isinstance(body, dict):
            raise PayoutUnavailable(f"IntaSend {path}: unreadable answer")
        return body

    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult:
        if refusal := mpesa_refusal(amount):
            return refusal
        if self.records.get(reference).get("tracking_id"):
            return self.status(reference=reference)  # our batch exists: never start another
        try:
            batch = self._post(INITIATE, self._initiate(reference, msisdn, amount))
            if outcome(batch).outcome == "failed":
                return outcome(batch)
            if not batch.get("tracking_id"):
                raise PayoutUnavailable("IntaSend initiate: no tracking_id in the answer")
            nonce = str(batch.get("nonce") or "")
            record = {"tracking_id": str(batch["tracking_id"]), "nonce": nonce}
            self.records.save(reference, record)
            return outcome(self._approve(batch, record))
        except IntasendRefused as refused:  # a new batch refused, or its approval: nothing moved
            return PayoutResult("failed", "", str(refused))

    def status(self, *, reference: str) -> PayoutResult:
        """How our batch stands. One still waiting for approval (its approval was lost, or the
        worker died before sending it) is approved now: that batch, never a new one."""
        record = self.records.get(reference)
        if not record.get("tracking_id"):
            return PayoutResult("not_found")  # never initiated: nothing moved
        try:
            batch = self._post(STATUS, {"tracking_id": record["tracking_id"]})
            if awaiting_approval(batch):
                batch = self._approve(batch, record)
        except IntasendRefused as refused:
            # A refusal about a batch we may have approved decides nothing about it.
            raise PayoutUnavailable(f"IntaSend batch {record['tracking_id']}: {refused}") from None
        return outcome(batch)

    def _initiate(self, reference: str, msisdn: str, amount: Decimal) -> dict:
        return {
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
            **self.device,
        }

    def _approve(self, batch: dict, record: dict[str, str]) -> dict:
        """IntaSend's answer about our batch sent back with the saved nonce, signed by our
        device when we have one."""
        nonce = record["nonce"]
        if self.device_key:
            nonce = signed_nonce(self.device_key, nonce)
        return self._post(APPROVE, {**batch, **self.device, **record, "nonce": nonce})
