"""The idempotency store: each key with a hash of its request and the final answer, so a replay
gets the first answer byte for byte. Also the per-escrow lock under which a key is looked up,
sent and recorded: a twin request (same key, same escrow) waits and then finds the answer."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kazi.sqlite_store import SqliteStore
from stellar_service.backends.base import IdempotencyConflict
from stellar_service.backends.channels import escrow_lock

SCHEMA = """
create table if not exists idempotency_keys (
    idempotency_key text primary key,
    operation text not null,
    request_hash text not null,
    status_code integer not null,
    body text not null,
    created_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


@dataclass(frozen=True)
class Answer:
    """An HTTP-shaped outcome: the status code and the exact JSON text of the body."""

    status_code: int
    body: str
    replayed: bool = False

    def json(self) -> dict:
        return json.loads(self.body)


class IdempotencyStore:
    def __init__(self, path: Path) -> None:
        self.db = SqliteStore(path, SCHEMA)
        # Threads and processes (a second server, the operator CLI, Django calling in-process)
        # alike queue on flocks here.
        self.lock_dir = self.db.path.with_name(self.db.path.name + ".locks")

    def lookup(self, key: str, request_hash: str) -> Answer | None:
        with self.db.connect() as db:
            row = db.execute(
                "select request_hash, status_code, body from idempotency_keys"
                " where idempotency_key = ?",
                (key,),
            ).fetchone()
        return _replay(key, request_hash, row)

    def save(self, key: str, operation: str, request_hash: str, answer: Answer) -> Answer:
        """Records the answer unless the key already has one (then that one wins)."""
        with self.db.write() as db:
            row = db.execute(
                "select request_hash, status_code, body from idempotency_keys"
                " where idempotency_key = ?",
                (key,),
            ).fetchone()
            if row is not None:
                return _replay(key, request_hash, row)
            db.execute(
                "insert into idempotency_keys"
                " (idempotency_key, operation, request_hash, status_code, body)"
                " values (?, ?, ?, ?, ?)",
                (key, operation, request_hash, answer.status_code, answer.body),
            )
        return answer

    def count(self) -> int:
        with self.db.connect() as db:
            return db.execute("select count(*) from idempotency_keys").fetchone()[0]

    @contextmanager
    def serialised(self, reference: str) -> Iterator[None]:
        """One write at a time for this escrow; other escrows' writes go on meanwhile."""
        with escrow_lock(self.lock_dir, reference):
            yield


def _replay(key: str, request_hash: str, row: object) -> Answer | None:
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyConflict(f"idempotency key {key!r} was used for a different request")
    return Answer(status_code=row["status_code"], body=row["body"], replayed=True)
