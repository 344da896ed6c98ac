"""The shared scenario files (contracts/escrow/README.md), replayed against the local backend so
that it and the Rust contract cannot drift. A failing step must change nothing."""

import json
import re
from pathlib import Path

import pytest
from stellar_sdk import MuxedAccount

from stellar_service.backends.base import CONTRACT_ERRORS, ContractError, Escrow
from stellar_service.backends.local import LocalBackend
from stellar_service.config import LOCAL_CONTRACT_ADDRESS, local_account
from stellar_service.service import CONTRACT_HTTP_STATUS
from tests.stellar_service.conftest import world

REPO = Path(__file__).resolve().parents[2]
CONTRACT_SCENARIOS = REPO / "contracts" / "escrow" / "scenarios"
SCENARIO_FILES = sorted(CONTRACT_SCENARIOS.glob("*.json"))
FLOAT = 1_000_000  # minted to the funder before the first step
ACTORS = {
    name: local_account(f"scenario {name}")
    for name in ("funder", "worker", "worker2", "fee_account")
}
ACTORS["contract"] = LOCAL_CONTRACT_ADDRESS
STEP_KEYS = {"call", "args", "error", "expect", "balances"}
ESCROW_ARGS = {"amount", "to_payee", "to_funder"}


def error_code(name: str) -> str:
    """`OverFunded` -> `over_funded`, and it must be one of the contract's errors."""
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    assert code in CONTRACT_ERRORS.values(), f"unknown contract error {name!r}"
    return code


def call_args(step: dict) -> dict:
    """A step's arguments in the backend's terms: actor names become addresses."""
    args = dict(step.get("args", {}))
    result = {"contract_id": args.pop("reference")}
    if "funder" in args:
        result["funder"] = ACTORS[args.pop("funder")]
    if "payee" in args:
        payee, mux_id = ACTORS[args.pop("payee")], args.pop("payee_id", None)
        result["payee"] = payee if mux_id is None else MuxedAccount(payee, mux_id).account_muxed
    unknown = set(args) - ESCROW_ARGS
    assert not unknown, f"unknown arguments {unknown}"
    return result | args


def expected_fields(expect: dict) -> dict:
    names = {"funder", "payee"}
    return {k: ACTORS[v] if k in names and v is not None else v for k, v in expect.items()}


def replay(path: Path, db: Path) -> None:
    scenario = json.loads(path.read_text())
    backend = LocalBackend(
        db,
        funder=ACTORS["funder"],
        float_amount=FLOAT,
        fee_bps=scenario.get("fee_bps", 0),
        fee_account=ACTORS["fee_account"],
        contract=ACTORS["contract"],
    )
    for index, step in enumerate(scenario["steps"]):
        where = f"{path.name} step {index}: {step}"
        assert set(step) <= STEP_KEYS, f"{where}: unknown keys"
        if "balances" in step:
            shown = {name: backend.balance(ACTORS[name]) for name in step["balances"]}
            assert shown == step["balances"], where
            continue
        args = call_args(step)
        key = f"{path.stem}-{index}"

        def run(call: str = step["call"], args: dict = args, key: str = key) -> Escrow:
            if call == "get":
                return backend.get(args["contract_id"])
            return getattr(backend, call)(key=key, **args).escrow

        if "error" in step:
            before = world(backend)
            with pytest.raises(ContractError) as refused:
                run()
            assert refused.value.code == error_code(step["error"]), where
            assert world(backend) == before, f"{where}: a refused call changed something"
            continue
        escrow = run().as_dict()
        if "expect" in step:
            assert step["call"] == "get", f"{where}: expect is only for get"
            expected = expected_fields(step["expect"])
            assert {k: escrow[k] for k in expected} == expected, where


def test_the_shared_scenarios_are_there() -> None:
    assert len(SCENARIO_FILES) >= 10, (
        f"the contract's scenarios are missing from {CONTRACT_SCENARIOS}"
    )


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_scenario(path: Path, tmp_path: Path) -> None:
    replay(path, tmp_path / "ledger.sqlite3")


def test_a_scenario_that_lies_fails(tmp_path: Path) -> None:
    """The replay itself can fail: one wrong expected balance is caught."""
    for path in SCENARIO_FILES:
        lie = json.loads(path.read_text())
        checks = [step["balances"] for step in lie["steps"] if step.get("balances")]
        if checks:
            name = next(iter(checks[0]))
            checks[0][name] += 1
            break
    else:
        pytest.skip("no scenario checks a balance")
    lying = tmp_path / "lie.json"
    lying.write_text(json.dumps(lie))
    with pytest.raises(AssertionError, match="balances"):
        replay(lying, tmp_path / "ledger.sqlite3")


def test_error_numbers_codes_and_statuses_match_the_readme() -> None:
    """The README's error table is the one source: the port's numbers and the HTTP statuses."""
    rows = re.findall(
        r"^\| (\d+) \| (\w+) \| `(\w+)` \| (\d{3}) \|$",
        (REPO / "contracts" / "escrow" / "README.md").read_text(),
        flags=re.MULTILINE,
    )
    assert len(rows) == 12
    assert {int(n): code for n, _, code, _ in rows} == CONTRACT_ERRORS
    assert {code: int(status) for _, _, code, status in rows} == CONTRACT_HTTP_STATUS
    assert all(error_code(name) == code for _, name, code, _ in rows)
