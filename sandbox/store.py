"""The sandbox's state: one SQLite file (WAL, so the server's threads read while one writes),
surviving restarts as the real providers' state would. Each stand-in brings its own tables."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Store:
    def __init__(self, path: Path | str, schema: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("pragma journal_mode=wal")
        if schema:
            self.add_schema(schema)

    def add_schema(self, schema: str) -> None:
        with self.connect() as db:
            db.executescript(schema)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction, committed on success and rolled back on any error.
        Whatever follows the block (a callback, an answer) sees it committed."""
        with self.connect() as db:
            db.execute("begin immediate")
            try:
                yield db
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")

    def one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with self.connect() as db:
            return db.execute(sql, args).fetchone()

    def all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self.connect() as db:
            return db.execute(sql, args).fetchall()

    def tables(self) -> list[str]:
        rows = self.all("select name from sqlite_master where type = 'table'")
        return [row["name"] for row in rows]
