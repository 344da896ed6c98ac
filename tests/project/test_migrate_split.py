"""payments/ became mpesa/ (money in) and payouts/ (money out): a database filled by the old
schema migrates forward with every row, every link between them and every permission kept, and
ends with the same tables as a database migrated from nothing."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "tests/fixtures/schema/before_split.sql"


def migrate(database: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def schema(db: sqlite3.Connection) -> dict[str, set[tuple]]:
    """Each table's columns (name, type, not null, default, primary key), in any order."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {
        table: {column[1:] for column in db.execute(f'PRAGMA table_info("{table}")')}
        for table in tables
        if not table.startswith("sqlite_")
    }


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("old") / "kazi.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(BEFORE.read_text())
    migrate(path)
    return sqlite3.connect(path)


def test_every_row_moves_with_its_table(migrated):
    rows = migrated.execute(
        "SELECT p.reference, p.amount, d.transaction_reference, c.outcome"
        " FROM payouts_mobilemoneypayout p"
        " LEFT JOIN mpesa_mpesadeposit d ON d.id = p.deposit_id"
        " LEFT JOIN mpesa_providercallback c ON c.id = d.callback_id ORDER BY p.reference"
    ).fetchall()
    assert rows == [
        ("PAYOUT_OLD0001", 1500, None, None),
        ("SURPLUS_OLD0000001", 100, "OLD0000001", "credited"),
    ]
    counts = [
        migrated.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in ("mpesa_mpesadeposit", "mpesa_stkpushrequest", "mpesa_mpesareversal")
    ]
    assert counts == [2, 1, 1]
    tables = {
        row[0] for row in migrated.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert not {t for t in tables if t.startswith("payments_")}


def test_permissions_granted_on_payments_still_hold(migrated):
    labels = migrated.execute(
        "SELECT DISTINCT ct.app_label FROM auth_group_permissions gp"
        " JOIN auth_group g ON g.id = gp.group_id AND g.name = 'Finance'"
        " JOIN auth_permission p ON p.id = gp.permission_id"
        " JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY 1"
    ).fetchall()
    assert labels == [("mpesa",), ("payouts",)]


def test_the_migrated_database_has_the_tables_of_a_new_one(migrated, tmp_path):
    fresh = tmp_path / "new.sqlite3"
    migrate(fresh)
    assert schema(migrated) == schema(sqlite3.connect(fresh))
