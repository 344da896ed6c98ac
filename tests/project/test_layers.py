"""The layers are checked, not just drawn: import-linter's contracts (pyproject.toml) pass on the
tree, and fail, naming the import, when a lower app reaches up or two modules import each other."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = [
    "accounts", "notifications", "jobs", "escrow", "mpesa", "payouts", "api", "web", "ussd",
    "kazi", "sandbox", "stellar_service",
]  # fmt: skip


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the Python packages and the contracts, to break on purpose."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own venv's tool
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_tree_keeps_every_contract(tree):
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "0 broken" in done.stdout


def test_an_upward_import_is_refused(tree):
    (tree / "jobs/reach_up.py").write_text("from payouts.models import MobileMoneyPayout\n")
    done = lint_imports(tree)
    assert done.returncode == 1
    assert "jobs is not allowed to import payouts" in done.stdout
    assert "jobs.reach_up -> payouts.models" in done.stdout


def test_a_cycle_is_refused(tree):
    with (tree / "escrow/services.py").open("a") as services:  # tasks imports services
        services.write("\nfrom escrow import tasks  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode == 1
    assert "No cycles are allowed in escrow" in done.stdout


def test_production_code_importing_the_sandbox_is_refused(tree):
    (tree / "escrow/ledger/stand_in.py").write_text("from sandbox.ledger import InProcessLedger\n")
    done = lint_imports(tree)
    assert done.returncode == 1
    assert "escrow is not allowed to import sandbox" in done.stdout
