"""The ledger port: the narrow interface the rest of the system uses to move escrowed money on
chain (create, fund, assign, release, refund, dispute, resolve). Amounts are integers of the
token's smallest unit (see kazi.money)."""

from dataclasses import dataclass
from typing import Protocol

from stellar_sdk import MuxedAccount


class LedgerError(Exception):
    pass


class LedgerUnavailable(LedgerError):
    """Transport trouble or an unknown outcome: retry with the same idempotency key."""


class LedgerRejected(LedgerError):
    """A definite "no" from the contract (already released, over-funded, ...): do not retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class LedgerReceipt:
    tx_hash: str


@dataclass(frozen=True)
class LedgerEscrow:
    reference: str
    status: str  # funding | funded | released | refunded | disputed | resolved
    amount: int
    funded: int
    payee: str
    released: int
    refunded: int


def escrow_from_json(body: dict) -> LedgerEscrow:
    """The service's escrow (payee as its base account plus a mux id) as the port shows it: the
    payee exactly as it was assigned, muxed when it has an id."""
    payee = body.get("payee") or ""
    if payee and body.get("payee_id") is not None:
        payee = MuxedAccount(payee, int(body["payee_id"])).account_muxed
    return LedgerEscrow(
        reference=body["contract_id"],
        status=body["status"],
        amount=body["amount"],
        funded=body["funded"],
        payee=payee,
        released=body["released"],
        refunded=body["refunded"],
    )


def checked_answer(what: str, status_code: int, body: object) -> dict:
    """The body of the service's answer (over HTTP or in-process) if it succeeded; otherwise the
    port's error: a definite refusal, or an outcome to ask about again."""
    if 200 <= status_code < 300 and isinstance(body, dict):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") or f"http_{status_code}"
    if status_code in {401, 403} or status_code >= 500:
        # Our configuration or their server is wrong, not the request: retrying may succeed.
        raise LedgerUnavailable(f"{what}: HTTP {status_code} {code}")
    raise LedgerRejected(code, error.get("message") or code)


class ServiceOperations:
    """The port's writes as the Stellar contract service's operations, keyed by the idempotency
    key; a subclass says how one operation reaches the service (HTTP or in-process)."""

    def create(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt:
        return self._write("create", idempotency_key, contract_id=reference, amount=amount)

    def fund(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt:
        return self._write("fund", idempotency_key, contract_id=reference, amount=amount)

    def assign(self, *, reference: str, payee: str, idempotency_key: str) -> LedgerReceipt:
        return self._write("assign", idempotency_key, contract_id=reference, payee=payee)

    def release(self, *, reference: str, idempotency_key: str) -> LedgerReceipt:
        return self._write("release", idempotency_key, contract_id=reference)

    def refund(self, *, reference: str, idempotency_key: str) -> LedgerReceipt:
        return self._write("refund", idempotency_key, contract_id=reference)

    def dispute(self, *, reference: str, idempotency_key: str) -> LedgerReceipt:
        return self._write("dispute", idempotency_key, contract_id=reference)

    def resolve(
        self, *, reference: str, to_payee: int, to_funder: int, idempotency_key: str
    ) -> LedgerReceipt:
        return self._write(
            "resolve",
            idempotency_key,
            contract_id=reference,
            to_payee=to_payee,
            to_funder=to_funder,
        )

    def _write(self, operation: str, key: str, **request: object) -> LedgerReceipt:
        raise NotImplementedError


class Ledger(Protocol):
    def create(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt: ...

    def fund(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt: ...

    def assign(self, *, reference: str, payee: str, idempotency_key: str) -> LedgerReceipt: ...

    def release(self, *, reference: str, idempotency_key: str) -> LedgerReceipt: ...

    def refund(self, *, reference: str, idempotency_key: str) -> LedgerReceipt: ...

    def dispute(self, *, reference: str, idempotency_key: str) -> LedgerReceipt: ...

    def resolve(
        self, *, reference: str, to_payee: int, to_funder: int, idempotency_key: str
    ) -> LedgerReceipt: ...

    def get(self, reference: str) -> LedgerEscrow: ...

    def health(self) -> str: ...
