"""payments/ became mpesa/ (money in) and payouts/ (money out): a database filled by the old
schema migrates forward with every row, every link between them and every permission kept, and
ends with the same tables as a database migrated from nothing. On SQLite (the embedded default)
and, with PostgreSQL at hand, on PostgreSQL (production), each from a dump of commit 0450a79."""

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/schema"

Query = Callable[[str], list[tuple]]

ROWS = (
    "SELECT p.reference, p.amount, d.transaction_reference, c.outcome"
    " FROM payouts_mobilemoneypayout p"
    " LEFT JOIN mpesa_mpesadeposit d ON d.id = p.deposit_id"
    " LEFT JOIN mpesa_providercallback c ON c.id = d.callback_id ORDER BY p.reference"
)
COUNTS = (
    "SELECT (SELECT count(*) FROM mpesa_mpesadeposit), (SELECT count(*) FROM mpesa_stkpushrequest),"
    " (SELECT count(*) FROM mpesa_mpesareversal)"
)
PERMISSIONS = (
    "SELECT DISTINCT ct.app_label FROM auth_group_permissions gp"
    " JOIN auth_group g ON g.id = gp.group_id AND g.name = 'Finance'"
    " JOIN auth_permission p ON p.id = gp.permission_id"
    " JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY 1"
)
SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
POSTGRES_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


def migrate(database_url: str) -> None:
    done = subprocess.run(  # our own interpreter
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def sqlite_database(path: Path, dump: str | None) -> tuple[str, Query]:
    if dump:
        with sqlite3.connect(path) as db:
            db.executescript(dump)
    migrate(f"sqlite:///{path}")
    return f"sqlite:///{path}", lambda sql: sqlite3.connect(path).execute(sql).fetchall()


def sqlite_columns(query: Query) -> dict[str, set[tuple]]:
    """Each table's columns (name, type, not null, default, primary key), in any order."""
    return {
        table: {column[1:] for column in query(f'PRAGMA table_info("{table}")')}
        for (table,) in query(SQLITE_TABLES)
    }


@pytest.fixture
def postgres(request) -> Iterator[Callable[[str, str | None], Query]]:
    """Scratch PostgreSQL databases beside the tests' own, dropped afterwards."""
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    made: list[str] = []

    def connect(name: str) -> psycopg.Connection:
        return psycopg.connect(urlunsplit(url._replace(path=f"/{name}")), autocommit=True)

    def database(name: str, dump: str | None) -> Query:
        with connect("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        if dump:
            with connect(name) as db:
                db.execute(dump)
        migrate(urlunsplit(url._replace(path=f"/{name}")))

        def query(sql: str) -> list[tuple]:
            with connect(name) as db:
                return db.execute(sql).fetchall()

        return query

    yield database
    with connect("postgres") as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_columns(query: Query) -> dict[str, set[tuple]]:
    rows = query(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'"
    )
    columns: dict[str, set[tuple]] = {}
    for table, *column in rows:
        columns.setdefault(table, set()).add(tuple(column))
    return columns


def assert_moved_with_everything(query: Query, tables: list[str]) -> None:
    assert [tuple(row) for row in query(ROWS)] == [
        ("PAYOUT_OLD0001", 1500, None, None),
        ("SURPLUS_OLD0000001", 100, "OLD0000001", "credited"),
    ]
    assert tuple(query(COUNTS)[0]) == (2, 1, 1)
    # Permissions hang on the content type, which moved with the model.
    assert [row[0] for row in query(PERMISSIONS)] == ["mpesa", "payouts"]
    assert not [table for table in tables if table.startswith("payments_")]


def test_a_sqlite_database_of_the_old_schema_migrates_with_its_rows(tmp_path):
    dump = (FIXTURES / "before_split.sqlite.sql").read_text()
    _, old = sqlite_database(tmp_path / "old.sqlite3", dump)
    assert_moved_with_everything(old, [row[0] for row in old(SQLITE_TABLES)])
    _, new = sqlite_database(tmp_path / "new.sqlite3", None)
    assert sqlite_columns(old) == sqlite_columns(new)


@pytest.mark.postgres
def test_a_postgres_database_of_the_old_schema_migrates_with_its_rows(postgres):
    old = postgres("kazi_test_before_split", (FIXTURES / "before_split.postgres.sql").read_text())
    assert_moved_with_everything(old, [row[0] for row in old(POSTGRES_TABLES)])
    new = postgres("kazi_test_after_split", None)
    assert postgres_columns(old) == postgres_columns(new)
    # The renamed table's id sequence came along: the next payout gets the id after the last.
    next_id = "SELECT nextval(pg_get_serial_sequence('payouts_mobilemoneypayout', 'id'))"
    assert old(next_id) == [(3,)]
