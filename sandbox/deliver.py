"""Callbacks leave the sandbox as the real providers send them: an HTTP POST of JSON to the URL that
was registered or given, from outside the request that caused them. Every delivery is a row
(`deliveries`), written in the same transaction as the state it reports, so nothing is announced
before it is committed and nothing is forgotten across a restart. A scheduler decides when each
one goes: the server's waits a moment (a customer typing a PIN) on a background thread and tries
again when the URL cannot be reached; the test harness supplies its own."""

import heapq
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    error text not null default ''
);
create index if not exists deliveries_status on deliveries (status);
"""
# A job tries one delivery; `last_try` says whether another would follow a connection failure.
# It answers whether it wants to be tried again later.
Job = Callable[[bool], bool]
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)


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
        self.store = store
        self.scheduler = scheduler
        self.http = httpx.Client(timeout=timeout)

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
        try:
            answer = self.http.post(
                row["url"],
                content=row["body"].encode(),
                headers={"Content-Type": "application/json", **json.loads(row["headers"])},
            )
        except RETRYABLE as exc:
            status = "failed" if last_try else "pending"
            self._record(delivery_id, status, None, "", f"{type(exc).__name__}: {exc}")
            log.warning("%s to %s: %s (%s)", row["kind"], _shown(row["url"]), exc, status)
            return not last_try
        except httpx.HTTPError as exc:
            self._record(delivery_id, "failed", None, "", f"{type(exc).__name__}: {exc}")
            log.warning("%s to %s: %s", row["kind"], _shown(row["url"]), exc)
            return False
        self._record(delivery_id, "delivered", answer.status_code, answer.text[:500], "")
        log.info("%s to %s: HTTP %s", row["kind"], _shown(row["url"]), answer.status_code)
        return False

    def deliver_now(self, delivery_id: int) -> dict[str, Any]:
        """Deliver at once, in this thread, and say what the listener answered."""
        self.deliver(delivery_id)
        return self.describe(self.store.one("select * from deliveries where id = ?", delivery_id))

    def _record(
        self, delivery_id: int, status: str, answer_status: int | None, answer: str, error: str
    ) -> None:
        with self.store.write() as db:
            db.execute(
                "update deliveries set status = ?, answer_status = ?, answer = ?, error = ? "
                "where id = ?",
                (status, answer_status, answer, error, delivery_id),
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
        """Deliver, now and in this thread, everything still waiting to go (not the held)."""
        ids = [
            r["id"] for r in self.store.all("select id from deliveries where status = 'pending'")
        ]
        for delivery_id in ids:
            self.deliver(delivery_id)
        return len(ids)

    def resume(self) -> int:
        """After a restart: what was waiting, or under way when the process stopped, goes again."""
        with self.store.write() as db:
            db.execute("update deliveries set status = 'pending' where status = 'delivering'")
            ids = [
                r["id"] for r in db.execute("select id from deliveries where status = 'pending'")
            ]
        self.dispatch(ids)
        return len(ids)

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
            "body": json.loads(row["body"]),
        }
