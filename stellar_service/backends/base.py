"""What every ledger backend offers the service: the escrow contract's entry points, keyed by an
idempotency key, with the contract's typed errors. Amounts are integers in the token's smallest
unit (7 decimals). The interface and the errors are specified in contracts/escrow/README.md."""

from dataclasses import asdict, dataclass
from typing import Protocol

# Contract error number -> service code, exactly as the Rust `#[contracterror]` enum numbers them.
CONTRACT_ERRORS: dict[int, str] = {
    1: "not_found",
    2: "already_exists",
    3: "invalid_amount",
    4: "over_funded",
    5: "not_funding",
    6: "not_funded",
    7: "no_payee",
    8: "closed",
    9: "not_disputed",
    10: "invalid_split",
    11: "invalid_fee",
    12: "in_dispute",
}
ERROR_NUMBERS = {code: number for number, code in CONTRACT_ERRORS.items()}
STATUSES = ("funding", "funded", "released", "refunded", "disputed", "resolved")


class ContractError(Exception):
    """A definite "no" from the contract: nothing changed, and retrying will not help."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code.replace("_", " ")

    @property
    def number(self) -> int | None:
        """The contract's error number; None for a token-level refusal (e.g. a funder short of
        tokens), which the token contract, not ours, reports."""
        return ERROR_NUMBERS.get(self.code)


class Unavailable(Exception):
    """The network, or the outcome, is unknown for now: retry with the same idempotency key."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different request: nothing was done."""


@dataclass(frozen=True)
class Escrow:
    contract_id: str
    status: str
    funder: str
    amount: int
    funded: int
    payee: str | None
    payee_id: int | None
    released: int
    fee: int
    refunded: int

    @property
    def held(self) -> int:
        if self.status in {"funding", "funded", "disputed"}:
            return self.funded
        return 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    escrow: Escrow


class Backend(Protocol):
    """Each write is applied at most once per idempotency key; replaying a key returns the first
    receipt, and replaying it with a different request raises IdempotencyConflict (the service
    checks that too, first). Writes raise ContractError (definite: nothing changed) or
    Unavailable (outcome unknown: the service retries with the same key)."""

    def create(self, *, key: str, contract_id: str, funder: str, amount: int) -> Receipt: ...

    def fund(self, *, key: str, contract_id: str, amount: int) -> Receipt: ...

    def assign(self, *, key: str, contract_id: str, payee: str) -> Receipt: ...

    def release(self, *, key: str, contract_id: str) -> Receipt: ...

    def refund(self, *, key: str, contract_id: str) -> Receipt: ...

    def dispute(self, *, key: str, contract_id: str) -> Receipt: ...

    def resolve(self, *, key: str, contract_id: str, to_payee: int, to_funder: int) -> Receipt: ...

    def get(self, contract_id: str) -> Escrow: ...

    def health(self) -> dict: ...
