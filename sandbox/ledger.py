"""The embedded default ledger: the Stellar contract service's own code (its idempotency record and
its `local` backend, the contract's rules over SQLite) called in-process instead of over HTTP, so
`make test` and a bare `runserver` need no second process. Same answers, same errors."""

from pathlib import Path

from escrow.ledger.base import (
    LedgerEscrow,
    LedgerReceipt,
    LedgerRejected,
    LedgerUnavailable,
    ServiceOperations,
    checked_answer,
    escrow_from_json,
)
from stellar_service.backends.base import ContractError, IdempotencyConflict, Unavailable
from stellar_service.backends.local import LocalBackend, LocalFaults
from stellar_service.service import EscrowService, ServiceError
from stellar_service.store import Answer, IdempotencyStore


class InProcessLedger(ServiceOperations):
    def __init__(self, path: Path) -> None:
        # The backend's fault switches and call log are the tests' handles on the "chain".
        self.backend = LocalBackend(path)
        self.service = EscrowService(self.backend, IdempotencyStore(path))

    @property
    def faults(self) -> LocalFaults:
        return self.backend.faults

    @property
    def calls(self) -> list[tuple[str, str]]:
        return self.backend.calls

    def applied_operations(self) -> list[str]:
        return self.backend.applied_operations()

    def get(self, reference: str) -> LedgerEscrow:
        try:
            return escrow_from_json(self.service.get(reference).as_dict())
        except ContractError as exc:
            raise LedgerRejected(exc.code, exc.message) from None

    def health(self) -> str:
        return self.service.health()["status"]

    def _write(self, operation: str, key: str, **request: object) -> LedgerReceipt:
        try:
            answer: Answer = getattr(self.service, operation)(key=key, **request)
        except Unavailable as exc:
            raise LedgerUnavailable(str(exc)) from None
        except ServiceError as exc:
            raise LedgerRejected(exc.code, exc.message) from None
        except IdempotencyConflict as exc:
            raise LedgerRejected("idempotency_conflict", str(exc)) from None
        body = checked_answer(f"stellar service {operation}", answer.status_code, answer.json())
        return LedgerReceipt(tx_hash=body["tx_hash"])
