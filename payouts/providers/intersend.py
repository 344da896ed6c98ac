"""The Intersend payout API as the system logic documents it:
`POST {INTERSEND_API_URL}/payouts/send`
with phone, amount, currency and our reference; `GET /payouts/{reference}` for the status; a
callback to `/api/callbacks/intersend/payout/`. Every request and callback is signed: hex
HMAC-SHA256 with the API secret over "{timestamp}.{body}", in X-Timestamp and X-Signature, and
refused more than MAX_CLOCK_SKEW seconds away from now."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import httpx

from kazi.unavailable import temporary
from payouts.providers.base import PayoutResult, PayoutUnavailable, mpesa_refusal

MAX_CLOCK_SKEW = 300  # seconds a signed message stays acceptable
_OUTCOMES = {
    "pending": "accepted",
    "processing": "accepted",
    "completed": "completed",
    "failed": "failed",
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    try:
        fresh = abs(time.time() - int(timestamp)) <= MAX_CLOCK_SKEW
    except ValueError:
        return False
    return bool(secret) and fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def signed_headers(api_key: str, secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "X-API-Key": api_key,
        "X-Timestamp": timestamp,
        "X-Signature": sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def outcome(body: dict) -> PayoutResult:
    return PayoutResult(
        _OUTCOMES.get(str(body.get("status")), "accepted"),
        str(body.get("transaction_id") or ""),
        str(body.get("failure_reason") or ""),
    )


class IntersendProvider:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)

    def _request(self, method: str, path: str, payload: dict | None = None) -> httpx.Response:
        """Intersend's answer, unless it could not take the request now: transport trouble,
        408, 429, 5xx, or a 401 (a key it no longer takes is ours to fix, not a verdict)."""
        body = json.dumps(payload, separators=(",", ":")).encode() if payload else b""
        try:
            response = self.http.request(
                method,
                path,
                content=body,
                headers=signed_headers(self.api_key, self.api_secret, body),
            )
        except httpx.HTTPError as exc:
            raise PayoutUnavailable(f"Intersend {path}: {type(exc).__name__}") from None
        if temporary(response.status_code) or response.status_code == 401:
            raise PayoutUnavailable.answered(f"Intersend {path}", response)
        return response

    def send(self, *, reference: str, msisdn: str, amount: Decimal) -> PayoutResult:
        if refusal := mpesa_refusal(amount):  # it pays to mobile money: no cents, KES 10 up
            return refusal
        path = "/payouts/send"
        response = self._request(
            "POST",
            path,
            {
                "phone_number": msisdn,
                "amount": f"{amount:.2f}",
                "currency": "KES",
                "reference": reference,
            },
        )
        if response.status_code >= 400:  # refused: nothing was sent
            return PayoutResult("failed", "", _refusal(response))
        return outcome(_json(path, response))

    def status(self, *, reference: str) -> PayoutResult:
        path = f"/payouts/{reference}"
        response = self._request("GET", path)
        if response.status_code == 404:
            return PayoutResult("not_found")
        if response.status_code >= 400:  # a refused question decides nothing
            raise PayoutUnavailable(f"Intersend {path}: HTTP {response.status_code}")
        return outcome(_json(path, response))


def _json(path: str, response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # the outcome is unknown until asked again
        raise PayoutUnavailable(f"Intersend {path}: unreadable answer")
    return body


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:255]
    error = body.get("error") if isinstance(body, dict) else None
    return str(error or body)[:255]
