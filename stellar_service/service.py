"""The escrow service: validates a request, answers a replayed idempotency key from the store,
and otherwise sends the write to the backend, one at a time per escrow, recording the final
answer. The HTTP
app, the operator CLI and Django (in-process, on the embedded default) all go through here."""

import hashlib
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

from stellar_sdk import StrKey

from stellar_service.backends import build_backend
from stellar_service.backends.base import (
    Backend,
    ContractError,
    Escrow,
    Receipt,
    Unavailable,
)
from stellar_service.config import LOCAL_FUNDER_ACCOUNT, Config
from stellar_service.store import Answer, IdempotencyStore

log = logging.getLogger(__name__)

CONTRACT_ID_PATTERN = r"ESCROW_[0-9A-HJKMNP-TV-Z]{8}"  # Crockford base32, as Django mints them
I128_MAX = 2**127 - 1
I128_MIN = -(2**127)
MAX_KEY_LENGTH = 128

# The README's HTTP status for each contract error; anything else the chain refuses (a token
# transfer short of funds) conflicts with the current state too.
CONTRACT_HTTP_STATUS = {
    "not_found": 404,
    "already_exists": 409,
    "invalid_amount": 422,
    "over_funded": 409,
    "not_funding": 409,
    "not_funded": 409,
    "no_payee": 409,
    "closed": 409,
    "not_disputed": 409,
    "invalid_split": 422,
    "invalid_fee": 422,
    "in_dispute": 409,
}


def contract_status(code: str) -> int:
    return CONTRACT_HTTP_STATUS.get(code, 409)


class ServiceError(Exception):
    """Refused by the service itself (bad input, no API key, ...): nothing recorded or sent."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message


def invalid(code: str, message: str) -> ServiceError:
    return ServiceError(422, code, message)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _dumps(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))


class EscrowService:
    def __init__(
        self,
        backend: Backend,
        store: IdempotencyStore,
        *,
        funder_account: str = LOCAL_FUNDER_ACCOUNT,
        backend_name: str = "local",
    ) -> None:
        self.backend = backend
        self.store = store
        self.funder_account = funder_account
        self.backend_name = backend_name

    @classmethod
    def from_config(cls, config: Config, backend: Backend | None = None) -> "EscrowService":
        return cls(
            backend or build_backend(config),
            IdempotencyStore(Path(config.db_path)),
            funder_account=config.funder_account,
            backend_name=config.backend,
        )

    # --- writes: each returns the Answer (first answer on a replay) or raises ServiceError,
    # IdempotencyConflict (nothing done) or Unavailable (unknown outcome: retry, same key).

    def create(
        self, *, key: str, contract_id: str, amount: int, funder: str | None = None
    ) -> Answer:
        funder = self.funder_account if funder is None else funder
        return self._write("create", key, contract_id=contract_id, funder=funder, amount=amount)

    def fund(self, *, key: str, contract_id: str, amount: int) -> Answer:
        return self._write("fund", key, contract_id=contract_id, amount=amount)

    def assign(self, *, key: str, contract_id: str, payee: str) -> Answer:
        return self._write("assign", key, contract_id=contract_id, payee=payee)

    def release(self, *, key: str, contract_id: str) -> Answer:
        return self._write("release", key, contract_id=contract_id)

    def refund(self, *, key: str, contract_id: str) -> Answer:
        return self._write("refund", key, contract_id=contract_id)

    def dispute(self, *, key: str, contract_id: str) -> Answer:
        return self._write("dispute", key, contract_id=contract_id)

    def resolve(self, *, key: str, contract_id: str, to_payee: int, to_funder: int) -> Answer:
        return self._write(
            "resolve", key, contract_id=contract_id, to_payee=to_payee, to_funder=to_funder
        )

    # --- reads

    def get(self, contract_id: str) -> Escrow:
        """Raises ContractError("not_found") for an unknown escrow, Unavailable if unreachable."""
        return self.backend.get(_contract_id("contract_id", contract_id))

    def health(self) -> dict:
        """`warning` when the backend reports any (an account low on lumens); raises Unavailable
        when the backend cannot be reached."""
        backend = self.backend.health()
        status = "warning" if backend.get("warnings") else "ok"
        return {"status": status, "backend": self.backend_name, **backend}

    # ---

    def _write(self, operation: str, key: str, **fields: object) -> Answer:
        _idempotency_key(key)
        request = {name: _VALIDATORS[name](name, value) for name, value in fields.items()}
        canonical = _dumps({"operation": operation, **dict(sorted(request.items()))})
        request_hash = hashlib.sha256(canonical.encode()).hexdigest()
        # Replays skip the queue; the second look under the lock catches a twin that just ran.
        answer = self.store.lookup(key, request_hash)
        if answer is not None:
            return answer
        with self.store.serialised(request["contract_id"]):
            answer = self.store.lookup(key, request_hash)
            if answer is not None:
                return answer
            answer = self.store.save(
                key, operation, request_hash, self._send(operation, key, request)
            )
        log.info("%s %s key=%s -> %s", operation, request["contract_id"], key, answer.status_code)
        return answer

    def _send(self, operation: str, key: str, request: dict) -> Answer:
        """The backend's definite answer; Unavailable propagates unrecorded, so the retry asks the
        backend again (which applies each key at most once)."""
        try:
            receipt: Receipt = getattr(self.backend, operation)(key=key, **request)
        except ContractError as refused:
            status = contract_status(refused.code)
            return Answer(status, _dumps(error_body(refused.code, refused.message)))
        except Unavailable:
            log.warning("%s %s key=%s: outcome unknown", operation, request["contract_id"], key)
            raise
        body = {
            "contract_id": request["contract_id"],
            "tx_hash": receipt.tx_hash,
            "escrow": receipt.escrow.as_dict(),
        }
        return Answer(200, _dumps(body))


def _contract_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(CONTRACT_ID_PATTERN, value):
        raise invalid("invalid_contract_id", f"{name} must look like ESCROW_7K3M9QXA")
    return value


def _amount(name: str, value: object) -> int:
    # bool is an int subclass: True must not fund 1 unit.
    if type(value) is not int or not 0 < value <= I128_MAX:
        raise invalid("invalid_amount", f"{name} must be an integer > 0 (on-chain units, i128)")
    return value


def _split(name: str, value: object) -> int:
    # The sign and the sum are the contract's to judge (InvalidSplit); only the type is ours.
    if type(value) is not int or not I128_MIN <= value <= I128_MAX:
        raise invalid("invalid_split", f"{name} must be an integer (on-chain units, i128)")
    return value


def _address(code: str, kinds: str, *checks: Callable[[str], bool]) -> Callable[[str, object], str]:
    def validate(name: str, value: object) -> str:
        if not isinstance(value, str) or not any(check(value) for check in checks):
            raise invalid(code, f"{name} must be a valid {kinds} address")
        return value

    return validate


_VALIDATORS: dict[str, Callable[[str, object], object]] = {
    "contract_id": _contract_id,
    "amount": _amount,
    "to_payee": _split,
    "to_funder": _split,
    # The contract's funder is an Address (account or contract); a payee may be muxed.
    "funder": _address(
        "invalid_funder",
        "G... or C...",
        StrKey.is_valid_ed25519_public_key,
        StrKey.is_valid_contract,
    ),
    "payee": _address(
        "invalid_payee",
        "G..., M... or C...",
        StrKey.is_valid_ed25519_public_key,
        StrKey.is_valid_med25519_public_key,
        StrKey.is_valid_contract,
    ),
}


def _idempotency_key(value: object) -> None:
    if not value:
        raise ServiceError(400, "missing_idempotency_key", "an Idempotency-Key is required")
    if (
        not isinstance(value, str)
        or len(value) > MAX_KEY_LENGTH
        or not re.fullmatch(r"[\x21-\x7e]+", value)
    ):
        raise ServiceError(
            400,
            "invalid_idempotency_key",
            f"the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters",
        )
