"""Callbacks leave the sandbox as the real providers send them: an HTTP POST of JSON to the URL that
was registered or given, from outside the request that caused them. Every delivery is a row
(`deliveries`), written in the same transaction as the state it reports, so nothing is announced
before it is committed and nothing is forgotten across a restart. A provider that signs its
callbacks (Intersend) signs each one as it leaves, so a retry carries a fresh timestamp.

A provider's work that goes on after its answer (an IntaSend batch moving from approval to
sending to completed) is a row too (`steps`): each step runs in one transaction that changes the
state, records its callbacks and the next step, and marks itself done, so a step is taken once
and a restart resumes what was under way.

A scheduler decides when each delivery and step goes: the server's waits a moment (a customer
typing a PIN, M-Pesa paying) on a background thread and tries a delivery again when the URL
cannot be reached; the test harness supplies its own."""

import heapq
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from sandbox.store import Store

log = logging.getLogger(__name__)

SCHEMA = """
create table if not exists deliveries (
    id integer primary key,
    created_at real not null,
    provider text not null,
    kind text not null,
    url text not null,
    body text not null,
    headers text not null default '{}',
    status text not null,  -- held | pending | delivering | delivered | failed
    attempts integer not null default 0,
    answer_status integer,
    answer text not null default '',
    error text not null default '',
    seconds real  -- how long the listener took to answer
);
create index if not exists deliveries_status on deliveries (status);
create table if not exists steps (
    id integer primary key,
    created_at real not null,
    provider text not null,
    action text not null,
    payload text not null,
    status text not null  -- pending | running | done | failed
);
create index if not exists steps_status on steps (status);
"""
# A job tries one delivery; `last_try` says whether another would follow a connection failure.
# It answers whether it wants to be tried again later.
Job = Callable[[bool], bool]
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
# Headers a provider adds to a callback as it leaves (a signature over the body).
Signer = Callable[[bytes], dict[str, str]]


@dataclass
class Later:
    """What a step left to go after its commit: deliveries to send, steps to take."""

    deliveries: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


# A step's work, inside its transaction: (db, action, payload) -> what goes after commit.
StepHandler = Callable[[sqlite3.Connection, str, dict[str, Any]], Later]


def _shown(url: str) -> str:
    """A URL as it may be logged: its query may carry the listener's secret token."""
    return url.split("?")[0]


class Scheduler(Protocol):
    def schedule(self, job: Job) -> None: ...


class Immediate:
    """Runs each delivery at once, in the caller's thread, once."""

    def schedule(self, job: Job) -> None:
        job(True)


class Background:
    """The server's scheduler: each delivery after `delay` seconds, on a small pool of threads
    (one slow listener does not hold up the others), tried again after 1, 2, 4 s ... when the
    URL cannot be reached, up to `retries` more times."""

    def __init__(
        self, delay: float, retries: int = 3, backoff: float = 1.0, workers: int = 4
    ) -> None:
        self.delay, self.retries, self.backoff = delay, retries, backoff
        self._due: list[tuple[float, int, Job, int]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sandbox-deliver")
        self._thread: threading.Thread | None = None

    def schedule(self, job: Job) -> None:
        self._push(self.delay, job, 0)

    def _push(self, after: float, job: Job, attempt: int) -> None:
        with self._ready:
            heapq.heappush(self._due, (time.monotonic() + after, next(self._order), job, attempt))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-scheduler", daemon=True
                )
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._due or self._due[0][0] > time.monotonic():
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._ready.wait(timeout)
                _, _, job, attempt = heapq.heappop(self._due)
            self._pool.submit(self._attempt, job, attempt)

    def _attempt(self, job: Job, attempt: int) -> None:
        last = attempt >= self.retries
        try:
            again = job(last)
        except Exception:
            log.exception("delivery failed")
            return
        if again and not last:
            self._push(self.backoff * 2**attempt, job, attempt + 1)


class Deliveries:
    def __init__(self, store: Store, scheduler: Scheduler, timeout: float = 10.0) -> None:
        store.add_schema(SCHEMA)
        with store.connect() as db:  # a file from before `seconds` was recorded
            columns = {row["name"] for row in db.execute("pragma table_info(deliveries)")}
            if "seconds" not in columns:
                db.execute("alter table deliveries add column seconds real")
        self.store = store
        self.scheduler = scheduler
        self.http = httpx.Client(timeout=timeout)
        self.signers: dict[str, Signer] = {}
        self.step_handlers: dict[str, StepHandler] = {}

    def sign_with(self, provider: str, signer: Signer) -> None:
        """`provider`'s callbacks carry the headers `signer` makes from the body as they leave."""
        self.signers[provider] = signer

    def take_steps_with(self, provider: str, handler: StepHandler) -> None:
        self.step_handlers[provider] = handler

    def add(
        self,
        db: sqlite3.Connection,
        *,
        provider: str,
        kind: str,
        url: str,
        body: object,
        headers: dict[str, str] | None = None,
        held: bool = False,
    ) -> int:
        """Record a delivery inside the caller's write transaction; `dispatch` it after commit."""
        cursor = db.execute(
            "insert into deliveries (created_at, provider, kind, url, body, headers, status) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                provider,
                kind,
                url,
                json.dumps(body),
                json.dumps(headers or {}),
                "held" if held else "pending",
            ),
        )
        return int(cursor.lastrowid)

    def dispatch(self, ids: list[int]) -> None:
        """Hand committed deliveries to the scheduler (held ones wait for `release_held`)."""
        for delivery_id in ids:
            row = self.store.one("select status from deliveries where id = ?", delivery_id)
            if row is not None and row["status"] == "pending":
                self.scheduler.schedule(lambda last, i=delivery_id: self.deliver(i, last))

    def deliver(self, delivery_id: int, last_try: bool = True) -> bool:
        """POST one pending delivery, once, whoever asks (the scheduler, `deliver_pending`).
        Answers True when the URL could not be reached and another try should follow."""
        with self.store.write() as db:
            claimed = db.execute(
                "update deliveries set status = 'delivering', attempts = attempts + 1 "
                "where id = ? and status = 'pending'",
                (delivery_id,),
            ).rowcount
            row = db.execute("select * from deliveries where id = ?", (delivery_id,)).fetchone()
        if not claimed:
            return False
        body = row["body"].encode()
        signer = self.signers.get(row["provider"])
        headers = {
            "Content-Type": "application/json",
            **json.loads(row["headers"]),
            **(signer(body) if signer else {}),
        }
        started = time.monotonic()
        try:
            answer = self.http.post(row["url"], content=body, headers=headers)
        except RETRYABLE as exc:
            status = "failed" if last_try else "pending"
            self._record(delivery_id, status, None, "", f"{type(exc).__name__}: {exc}")
            log.warning("%s to %s: %s (%s)", row["kind"], _shown(row["url"]), exc, status)
            return not last_try
        except httpx.HTTPError as exc:
            self._record(delivery_id, "failed", None, "", f"{type(exc).__name__}: {exc}")
            log.warning("%s to %s: %s", row["kind"], _shown(row["url"]), exc)
            return False
        self._record(
            delivery_id,
            "delivered",
            answer.status_code,
            answer.text[:500],
            "",
            time.monotonic() - started,
        )
        log.info("%s to %s: HTTP %s", row["kind"], _shown(row["url"]), answer.status_code)
        return False

    def deliver_now(self, delivery_id: int) -> dict[str, Any]:
        """Deliver at once, in this thread, and say what the listener answered."""
        self.deliver(delivery_id)
        return self.describe(self.store.one("select * from deliveries where id = ?", delivery_id))

    def _record(
        self,
        delivery_id: int,
        status: str,
        answer_status: int | None,
        answer: str,
        error: str,
        seconds: float | None = None,
    ) -> None:
        with self.store.write() as db:
            db.execute(
                "update deliveries set status = ?, answer_status = ?, answer = ?, error = ?, "
                "seconds = ? where id = ?",
                (status, answer_status, answer, error, seconds, delivery_id),
            )

    def release_held(self, provider: str | None = None) -> int:
        with self.store.write() as db:
            where = "status = 'held'" + (" and provider = ?" if provider else "")
            args = (provider,) if provider else ()
            ids = [r["id"] for r in db.execute(f"select id from deliveries where {where}", args)]  # noqa: S608 - fixed text
            db.executemany(
                "update deliveries set status = 'pending' where id = ?", [(i,) for i in ids]
            )
        self.dispatch(ids)
        return len(ids)

    def deliver_pending(self) -> int:
        """Take every step and deliver everything still waiting to go (not the held), now and in
        this thread, until nothing is left; answers how many deliveries went."""
        delivered = 0
        while True:
            ids = [
                r["id"]
                for r in self.store.all("select id from deliveries where status = 'pending'")
            ]
            steps = [
                r["id"] for r in self.store.all("select id from steps where status = 'pending'")
            ]
            if not ids and not steps:
                return delivered
            for delivery_id in ids:
                self.deliver(delivery_id)
            for step_id in steps:
                self.take_step(step_id)
            delivered += len(ids)

    def resume(self) -> int:
        """After a restart: what was waiting, or under way when the process stopped, goes again,
        and steps under way are taken again. Answers how many deliveries go."""
        with self.store.write() as db:
            db.execute("update deliveries set status = 'pending' where status = 'delivering'")
            db.execute("update steps set status = 'pending' where status = 'running'")
            ids = [
                r["id"] for r in db.execute("select id from deliveries where status = 'pending'")
            ]
            steps = [r["id"] for r in db.execute("select id from steps where status = 'pending'")]
        self.dispatch(ids)
        self.dispatch_steps(steps)
        return len(ids)

    # --- steps: a provider's work after its answer -------------------------------------------

    def add_step(
        self, db: sqlite3.Connection, *, provider: str, action: str, payload: dict[str, Any]
    ) -> int:
        """Record a step inside the caller's write transaction; `dispatch_steps` it after
        commit."""
        cursor = db.execute(
            "insert into steps (created_at, provider, action, payload, status) "
            "values (?, ?, ?, ?, 'pending')",
            (time.time(), provider, action, json.dumps(payload)),
        )
        return int(cursor.lastrowid)

    def dispatch_steps(self, ids: list[int]) -> None:
        for step_id in ids:
            self.scheduler.schedule(lambda last, i=step_id: self.take_step(i))

    def after_commit(self, later: Later) -> None:
        """What a transaction left to go: its deliveries first (the news of the state it
        reached), then its steps (the states that follow)."""
        self.dispatch(later.deliveries)
        self.dispatch_steps(later.steps)

    def take_step(self, step_id: int) -> bool:
        """Take one pending step, once, in one transaction with its state change. Never asks to
        be tried again: a step that fails is logged and left failed."""
        try:
            with self.store.write() as db:
                row = db.execute(
                    "select * from steps where id = ? and status = 'pending'", (step_id,)
                ).fetchone()
                if row is None:
                    return False
                handler = self.step_handlers[row["provider"]]
                later = handler(db, row["action"], json.loads(row["payload"]))
                db.execute("update steps set status = 'done' where id = ?", (step_id,))
        except Exception:
            log.exception("step %s failed", step_id)
            with self.store.write() as db:
                db.execute("update steps set status = 'failed' where id = ?", (step_id,))
            return False
        self.after_commit(later)
        return False

    def pending_steps(self) -> list[dict[str, Any]]:
        rows = self.store.all("select * from steps where status = 'pending' order by id")
        return [{**dict(row), "payload": json.loads(row["payload"])} for row in rows]

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.store.all("select * from deliveries order by id desc limit ?", limit)
        return [self.describe(row) for row in rows]

    @staticmethod
    def describe(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "provider": row["provider"],
            "kind": row["kind"],
            "url": row["url"],
            "status": row["status"],
            "attempts": row["attempts"],
            "answer_status": row["answer_status"],
            "answer": row["answer"],
            "error": row["error"],
            "seconds": row["seconds"],
            "created_at": row["created_at"],
            "body": json.loads(row["body"]),
        }
