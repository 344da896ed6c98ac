"""The ledger port over HTTP: a client of the Stellar contract service (`stellar_service/`), the
only process that holds signing keys. Every write carries its idempotency key, so a retry after a
lost answer is answered from the service's record instead of moving money again."""

import logging
import time

import httpx

from escrow.ledger.base import (
    LedgerError,
    LedgerEscrow,
    LedgerReceipt,
    LedgerUnavailable,
    ServiceOperations,
    checked_answer,
    escrow_from_json,
)

log = logging.getLogger(__name__)

# Transport errors and answers that mean "outcome unknown, ask again with the same key".
_RETRYABLE_STATUS = {502, 503, 504}


class ServiceLedger(ServiceOperations):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key},
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )
        self.attempts = attempts
        self.backoff = backoff

    def get(self, reference: str) -> LedgerEscrow:
        return escrow_from_json(self._request("GET", f"/api/escrow/{reference}"))

    def health(self) -> str:
        try:
            body = self._request("GET", "/api/health", attempts=1)
        except LedgerError as exc:
            return f"unavailable: {exc}"
        return str(body.get("status", "ok"))

    def _write(self, operation: str, key: str, **payload: object) -> LedgerReceipt:
        path = f"/api/escrow/{operation}"
        response = self._send("POST", path, json=payload, headers={"Idempotency-Key": key})
        body = checked_answer(f"stellar service {path}", response.status_code, _json(response))
        return LedgerReceipt(tx_hash=body["tx_hash"])

    def _request(self, method: str, path: str, *, attempts: int | None = None) -> dict:
        response = self._send(method, path, attempts=attempts)
        return checked_answer(f"stellar service {path}", response.status_code, _json(response))

    def _send(
        self, method: str, path: str, *, attempts: int | None = None, **kwargs: object
    ) -> httpx.Response:
        """Retry what may not have arrived (transport errors, 502-504) a few times with the same
        idempotency key; the caller's task retries longer with backoff after that."""
        attempts = attempts or self.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                problem = f"stellar service {path}: {type(exc).__name__}"
            else:
                if response.status_code not in _RETRYABLE_STATUS:
                    return response
                problem = f"stellar service {path}: HTTP {response.status_code}"
            log.warning("%s (attempt %d of %d)", problem, attempt, attempts)
            if attempt < attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise LedgerUnavailable(problem)


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
