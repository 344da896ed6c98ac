"""The embedded default ledger: the escrow contract's rules over a SQLite file, so its state
survives restarts and is shared by every process on the machine. Transaction hashes are
deterministic (a hash of the idempotency key and the request)."""

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from escrow.ledger.base import LedgerEscrow, LedgerReceipt, LedgerRejected, LedgerUnavailable
from kazi.sqlite_store import SqliteStore

SCHEMA = """
create table if not exists escrows (
    reference text primary key, status text not null, amount integer not null,
    funded integer not null default 0, payee text not null default '',
    released integer not null default 0, refunded integer not null default 0
);
create table if not exists operations (
    idempotency_key text primary key, request text not null, tx_hash text not null
);
"""


@dataclass
class LedgerFaults:
    """Switches for tests: fail before applying, or apply and then lose the answer."""

    fail_before_apply: int = 0
    lose_answer_after_apply: int = 0


class LocalLedger:
    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(path, SCHEMA)
        self.faults = LedgerFaults()
        self.calls: list[tuple[str, str]] = []  # (operation, idempotency key) as received

    def create(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt:
        def apply(db: sqlite3.Connection) -> None:
            if amount <= 0:
                raise LedgerRejected("invalid_amount", "amount must be positive")
            if self._row(db, reference, required=False):
                raise LedgerRejected("already_exists", f"{reference} exists")
            db.execute(
                "insert into escrows (reference, status, amount) values (?, 'funding', ?)",
                (reference, amount),
            )

        return self._operate("create", idempotency_key, {"ref": reference, "amount": amount}, apply)

    def fund(self, *, reference: str, amount: int, idempotency_key: str) -> LedgerReceipt:
        def apply(db: sqlite3.Connection) -> None:
            row = self._row(db, reference)
            if amount <= 0:
                raise LedgerRejected("invalid_amount", "amount must be positive")
            if row["status"] != "funding":
                raise LedgerRejected("not_funding", f"{reference} is {row['status']}")
            funded = row["funded"] + amount
            if funded > row["amount"]:
                raise LedgerRejected("over_funded", f"{reference} would exceed its amount")
            status = "funded" if funded == row["amount"] else "funding"
            db.execute(
                "update escrows set funded = ?, status = ? where reference = ?",
                (funded, status, reference),
            )

        return self._operate("fund", idempotency_key, {"ref": reference, "amount": amount}, apply)

    def assign(self, *, reference: str, payee: str, idempotency_key: str) -> LedgerReceipt:
        def apply(db: sqlite3.Connection) -> None:
            row = self._row(db, reference)
            if row["status"] in {"released", "refunded"}:
                raise LedgerRejected("closed", f"{reference} is {row['status']}")
            if not payee:
                raise LedgerRejected("invalid_payee", "payee is required")
            db.execute("update escrows set payee = ? where reference = ?", (payee, reference))

        return self._operate("assign", idempotency_key, {"ref": reference, "payee": payee}, apply)

    def release(self, *, reference: str, idempotency_key: str) -> LedgerReceipt:
        def apply(db: sqlite3.Connection) -> None:
            row = self._row(db, reference)
            if row["status"] != "funded":
                raise LedgerRejected("not_funded", f"{reference} is {row['status']}")
            if not row["payee"]:
                raise LedgerRejected("no_payee", f"{reference} has no payee")
            db.execute(
                "update escrows set status = 'released', released = funded where reference = ?",
                (reference,),
            )

        return self._operate("release", idempotency_key, {"ref": reference}, apply)

    def refund(self, *, reference: str, idempotency_key: str) -> LedgerReceipt:
        def apply(db: sqlite3.Connection) -> None:
            row = self._row(db, reference)
            if row["status"] in {"released", "refunded"}:
                raise LedgerRejected("closed", f"{reference} is {row['status']}")
            db.execute(
                "update escrows set status = 'refunded', refunded = funded where reference = ?",
                (reference,),
            )

        return self._operate("refund", idempotency_key, {"ref": reference}, apply)

    def get(self, reference: str) -> LedgerEscrow:
        with self.store.connect() as db:
            return LedgerEscrow(**dict(self._row(db, reference)))

    def health(self) -> str:
        with self.store.connect() as db:
            db.execute("select count(*) from escrows").fetchone()
        return "ok"

    def _row(self, db: sqlite3.Connection, reference: str, *, required: bool = True) -> sqlite3.Row:
        row = db.execute("select * from escrows where reference = ?", (reference,)).fetchone()
        if row is None and required:
            raise LedgerRejected("not_found", f"{reference} does not exist")
        return row

    def _operate(
        self,
        operation: str,
        key: str,
        request: dict,
        apply: Callable[[sqlite3.Connection], None],
    ) -> LedgerReceipt:
        self.calls.append((operation, key))
        if self.faults.fail_before_apply:
            self.faults.fail_before_apply -= 1
            raise LedgerUnavailable("ledger unreachable (injected fault)")
        body = json.dumps({"op": operation, **request}, sort_keys=True)
        with self.store.write() as db:
            seen = db.execute(
                "select request, tx_hash from operations where idempotency_key = ?", (key,)
            ).fetchone()
            if seen:
                if seen["request"] != body:
                    raise LedgerRejected("idempotency_conflict", f"{key} was used for {seen[0]}")
                return LedgerReceipt(tx_hash=seen["tx_hash"])
            apply(db)
            tx_hash = hashlib.sha256(f"{key}|{body}".encode()).hexdigest()
            db.execute(
                "insert into operations (idempotency_key, request, tx_hash) values (?, ?, ?)",
                (key, body, tx_hash),
            )
        if self.faults.lose_answer_after_apply:
            self.faults.lose_answer_after_apply -= 1
            raise LedgerUnavailable("answer lost after the operation was applied (injected fault)")
        return LedgerReceipt(tx_hash=tx_hash)

    def applied_operations(self) -> list[str]:
        """Idempotency keys the ledger has applied, oldest first (for tests and the demo)."""
        with self.store.connect() as db:
            return [
                r[0] for r in db.execute("select idempotency_key from operations order by rowid")
            ]
