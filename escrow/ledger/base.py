"""The ledger port: the narrow interface the rest of the system uses to move escrowed money on
chain. Amounts are integers of the token's smallest unit (see kazi.money)."""

from dataclasses import dataclass
from typing import Protocol


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
    status: str  # funding | funded | released | refunded
    amount: int
    funded: int
    payee: str
    released: int
    refunded: int


class Ledger(Protocol):
    def create(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt: ...

    def fund(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt: ...

    def assign(self, *, reference: str, payee: str, idempotency_key: str) -> LedgerReceipt: ...

    def release(self, *, reference: str, idempotency_key: str) -> LedgerReceipt: ...

    def refund(self, *, reference: str, idempotency_key: str) -> LedgerReceipt: ...

    def get(self, reference: str) -> LedgerEscrow: ...

    def health(self) -> str: ...
