"""The embedded default backend: the escrow contract's rules (contracts/escrow/README.md: checks
in the same order, the same errors, the fee rounded down, a muxed payee kept as its account plus
its id) over SQLite, with the token balances a chain would show (funder float, contract, payees,
fee account). Each idempotency key is applied at most once and yields a deterministic tx hash.

Amounts are i128 and payee ids u64, both beyond SQLite's integers, so escrows are stored as JSON
and balances as decimal text."""

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stellar_sdk import MuxedAccount, StrKey

from kazi.sqlite_store import SqliteStore
from stellar_service.backends.base import (
    ContractError,
    Escrow,
    IdempotencyConflict,
    Receipt,
    Unavailable,
)
from stellar_service.config import LOCAL_CONTRACT_ADDRESS, LOCAL_FEE_ACCOUNT, LOCAL_FUNDER_ACCOUNT

SCHEMA = """
create table if not exists ledger_escrows (contract_id text primary key, escrow text not null);
create table if not exists ledger_balances (address text primary key, amount text not null);
create table if not exists ledger_operations (
    idempotency_key text primary key, request text not null, tx_hash text not null,
    escrow text not null
);
"""

MAX_FEE_BPS = 1_000  # the contract's constructor refuses more than 10 %
# What the funder float is minted with, once per file: KES 1,000,000,000,000 at 7 decimals, far
# beyond anything the embedded default will hold (a real float is whatever the issuer minted).
LOCAL_FLOAT = 10**12 * 10**7
CLOSED = frozenset({"released", "refunded", "resolved"})

Transfer = tuple[str, str, int]  # from, to, amount
Apply = Callable[[Escrow | None], tuple[Escrow, list[Transfer]]]


@dataclass
class LocalFaults:
    """Switches for tests: fail before applying, or apply and then lose the answer."""

    fail_before_apply: int = 0
    lose_answer_after_apply: int = 0


class LocalBackend:
    def __init__(
        self,
        path: Path,
        *,
        funder: str = LOCAL_FUNDER_ACCOUNT,
        float_amount: int = LOCAL_FLOAT,
        fee_bps: int = 0,
        fee_account: str = LOCAL_FEE_ACCOUNT,
        contract: str = LOCAL_CONTRACT_ADDRESS,
    ) -> None:
        if not 0 <= fee_bps <= MAX_FEE_BPS:
            raise ContractError("invalid_fee", f"fee_bps must be 0 to {MAX_FEE_BPS}")
        self.funder = funder
        self.fee_bps = fee_bps
        self.fee_account = fee_account
        self.contract = contract
        self.faults = LocalFaults()
        self.calls: list[tuple[str, str]] = []  # (operation, idempotency key) as received
        self.store = SqliteStore(path, SCHEMA)
        with self.store.write() as db:
            db.execute(
                "insert or ignore into ledger_balances (address, amount) values (?, ?)",
                (funder, str(float_amount)),
            )

    # --- the contract's entry points

    def create(self, *, key: str, contract_id: str, funder: str, amount: int) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            if amount <= 0:
                raise ContractError("invalid_amount", "amount must be positive")
            if funder == self.contract:
                # The contract could "fund" an escrow from the tokens other escrows hold.
                raise ContractError("invalid_amount", "the contract cannot fund an escrow")
            if escrow is not None:
                raise ContractError("already_exists", f"{contract_id} exists")
            return Escrow(contract_id, "funding", funder, amount, 0, None, None, 0, 0, 0), []

        return self._operate(
            "create", key, contract_id, {"funder": funder, "amount": amount}, apply
        )

    def fund(self, *, key: str, contract_id: str, amount: int) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _found(escrow, contract_id)
            if amount <= 0:
                raise ContractError("invalid_amount", "amount must be positive")
            if escrow.status != "funding":
                raise ContractError("not_funding", f"{contract_id} is {escrow.status}")
            funded = escrow.funded + amount
            if funded > escrow.amount:
                raise ContractError("over_funded", f"{contract_id} would pass its amount")
            status = "funded" if funded == escrow.amount else "funding"
            return (
                replace(escrow, funded=funded, status=status),
                [(escrow.funder, self.contract, amount)],
            )

        return self._operate("fund", key, contract_id, {"amount": amount}, apply)

    def assign(self, *, key: str, contract_id: str, payee: str) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _open(_found(escrow, contract_id))
            account, mux_id = _unmux(payee)
            return replace(escrow, payee=account, payee_id=mux_id), []

        return self._operate("assign", key, contract_id, {"payee": payee}, apply)

    def release(self, *, key: str, contract_id: str) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _open(_found(escrow, contract_id))
            if escrow.status != "funded":
                raise ContractError("not_funded", f"{contract_id} is {escrow.status}")
            if escrow.payee is None:
                raise ContractError("no_payee", f"{contract_id} has no payee")
            fee = escrow.funded * self.fee_bps // 10_000
            net = escrow.funded - fee
            return replace(escrow, status="released", released=net, fee=fee), [
                (self.contract, escrow.payee, net),
                (self.contract, self.fee_account, fee),
            ]

        return self._operate("release", key, contract_id, {}, apply)

    def refund(self, *, key: str, contract_id: str) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _open(_found(escrow, contract_id))
            return (
                replace(escrow, status="refunded", refunded=escrow.funded),
                [(self.contract, escrow.funder, escrow.funded)],
            )

        return self._operate("refund", key, contract_id, {}, apply)

    def dispute(self, *, key: str, contract_id: str) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _open(_found(escrow, contract_id))
            if escrow.status != "funded":
                raise ContractError("not_funded", f"{contract_id} is {escrow.status}")
            return replace(escrow, status="disputed"), []

        return self._operate("dispute", key, contract_id, {}, apply)

    def resolve(self, *, key: str, contract_id: str, to_payee: int, to_funder: int) -> Receipt:
        def apply(escrow: Escrow | None) -> tuple[Escrow, list[Transfer]]:
            escrow = _found(escrow, contract_id)
            if escrow.status != "disputed":
                raise ContractError("not_disputed", f"{contract_id} is {escrow.status}")
            if to_payee < 0 or to_funder < 0 or to_payee + to_funder != escrow.funded:
                raise ContractError("invalid_split", f"the split must add up to {escrow.funded}")
            if to_payee > 0 and escrow.payee is None:
                raise ContractError("no_payee", f"{contract_id} has no payee")
            transfers = [(self.contract, escrow.funder, to_funder)]
            if escrow.payee is not None:
                transfers.append((self.contract, escrow.payee, to_payee))
            resolved = replace(escrow, status="resolved", released=to_payee, refunded=to_funder)
            return resolved, transfers

        request = {"to_payee": to_payee, "to_funder": to_funder}
        return self._operate("resolve", key, contract_id, request, apply)

    # --- reads

    def get(self, contract_id: str) -> Escrow:
        with self.store.connect() as db:
            return _found(_load(db, contract_id), contract_id)

    def health(self) -> dict:
        with self.store.connect() as db:
            escrows = db.execute("select count(*) from ledger_escrows").fetchone()[0]
        return {"escrows": escrows}

    # --- what a chain explorer would show (tests, the demo, the operator CLI)

    def escrows(self) -> list[Escrow]:
        with self.store.connect() as db:
            rows = db.execute("select escrow from ledger_escrows order by rowid").fetchall()
        return [_escrow(row[0]) for row in rows]

    def balance(self, address: str) -> int:
        with self.store.connect() as db:
            return _balance(db, address)

    def balances(self) -> dict[str, int]:
        with self.store.connect() as db:
            rows = db.execute("select address, amount from ledger_balances").fetchall()
        return {address: int(amount) for address, amount in rows}

    def applied_operations(self) -> list[str]:
        """Idempotency keys applied, oldest first."""
        with self.store.connect() as db:
            rows = db.execute("select idempotency_key from ledger_operations order by rowid")
            return [row[0] for row in rows]

    # ---

    def _operate(
        self, operation: str, key: str, contract_id: str, args: dict, apply: Apply
    ) -> Receipt:
        self.calls.append((operation, key))
        if self.faults.fail_before_apply:
            self.faults.fail_before_apply -= 1
            raise Unavailable("ledger unreachable (injected fault)")
        request = json.dumps(
            {"operation": operation, "contract_id": contract_id, **args},
            sort_keys=True,
            separators=(",", ":"),
        )
        with self.store.write() as db:
            seen = db.execute(
                "select request, tx_hash, escrow from ledger_operations where idempotency_key = ?",
                (key,),
            ).fetchone()
            if seen is not None:
                if seen["request"] != request:
                    raise IdempotencyConflict(f"{key!r} was used for {seen['request']}")
                return Receipt(tx_hash=seen["tx_hash"], escrow=_escrow(seen["escrow"]))
            escrow, transfers = apply(_load(db, contract_id))
            for source, destination, amount in transfers:
                _transfer(db, source, destination, amount)
            stored = json.dumps(escrow.as_dict(), sort_keys=True)
            db.execute(
                "insert or replace into ledger_escrows (contract_id, escrow) values (?, ?)",
                (contract_id, stored),
            )
            tx_hash = hashlib.sha256(f"{key}|{request}".encode()).hexdigest()
            db.execute(
                "insert into ledger_operations (idempotency_key, request, tx_hash, escrow)"
                " values (?, ?, ?, ?)",
                (key, request, tx_hash, stored),
            )
        if self.faults.lose_answer_after_apply:
            self.faults.lose_answer_after_apply -= 1
            raise Unavailable("answer lost after the operation was applied (injected fault)")
        return Receipt(tx_hash=tx_hash, escrow=escrow)


def _found(escrow: Escrow | None, contract_id: str) -> Escrow:
    if escrow is None:
        raise ContractError("not_found", f"{contract_id} does not exist")
    return escrow


def _open(escrow: Escrow) -> Escrow:
    if escrow.status in CLOSED:
        raise ContractError("closed", f"{escrow.contract_id} is {escrow.status}")
    if escrow.status == "disputed":
        raise ContractError("in_dispute", f"{escrow.contract_id} is in dispute")
    return escrow


def _unmux(payee: str) -> tuple[str, int | None]:
    """A muxed payee (M...) is paid at its account; the contract records the mux id beside it."""
    if StrKey.is_valid_med25519_public_key(payee):
        muxed = MuxedAccount.from_account(payee)
        return muxed.account_id, muxed.account_muxed_id
    return payee, None


def _escrow(stored: str) -> Escrow:
    return Escrow(**json.loads(stored))


def _load(db: sqlite3.Connection, contract_id: str) -> Escrow | None:
    row = db.execute(
        "select escrow from ledger_escrows where contract_id = ?", (contract_id,)
    ).fetchone()
    return None if row is None else _escrow(row[0])


def _balance(db: sqlite3.Connection, address: str) -> int:
    row = db.execute("select amount from ledger_balances where address = ?", (address,)).fetchone()
    return 0 if row is None else int(row[0])


def _transfer(db: sqlite3.Connection, source: str, destination: str, amount: int) -> None:
    """A token transfer; like the token contract, it refuses to overdraw (the whole call fails)."""
    if amount == 0:
        return
    available = _balance(db, source)
    if available < amount:
        raise ContractError("token_insufficient_balance", f"{source} holds {available} < {amount}")
    for address, change in ((source, -amount), (destination, amount)):
        db.execute(
            "insert into ledger_balances (address, amount) values (?, ?)"
            " on conflict (address) do update set amount = excluded.amount",
            (address, str(_balance(db, address) + change)),
        )
