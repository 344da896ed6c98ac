"""The whole product on the local Stellar network, as `make run-soroban` serves it (scripts/run.py
--soroban: the local network running the contract's wasm, the contract deployed by
`python -m stellar_service.cli deploy`, the Stellar service with STELLAR_BACKEND=soroban), then
`make demo` against it. Every escrow step must be a real, signed, fee-paying Soroban transaction
that the local network finds by its hash (getTransaction)."""

import subprocess
import sys
import time

import httpx
import pytest
from stellar_sdk import xdr

from stellar_service.cli import DEFAULT_WASM
from tests.e2e.test_embedded_server import ROOT, employer_client, free_port, start
from tests.stellar_service.localnet import BINARY, unavailable

LEDGER_CLOSE_MS = "200"


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    if not BINARY.is_file():
        unavailable(f"no local network binary at {BINARY} (make localnet-build; needs Rust)")
    if not DEFAULT_WASM.is_file():
        unavailable(f"no contract wasm at {DEFAULT_WASM} (make contract; needs Debian's Rust)")
    rpc_port = free_port()
    server = start(
        tmp_path_factory.mktemp("soroban"),
        "--soroban",
        LOCALNET_PORT=str(rpc_port),
        LEDGER_CLOSE_MS=LEDGER_CLOSE_MS,
        PERIODIC_TICK_SECONDS="1",
    )
    server.rpc = f"http://127.0.0.1:{rpc_port}"
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=30)


def on_the_network(rpc: str, tx_hash: str) -> xdr.TransactionResult:
    answer = httpx.post(
        rpc,
        json={"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": {"hash": tx_hash}},
    ).json()["result"]
    assert answer["status"] == "SUCCESS", answer
    return xdr.TransactionResult.from_xdr(answer["resultXdr"])


def settled(client: httpx.Client, job_id: int, status: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/api/jobs/{job_id}/").json()
        ops = job["escrow"]["transactions"]
        if job["escrow"]["status"] == status and all(op["status"] == "succeeded" for op in ops):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_make_demo_walks_the_flow_with_real_transactions(network):
    assert "soroban backend" in network.output()
    demo = subprocess.run(  # noqa: S603 - our own script, as `make demo` runs it
        [
            sys.executable,
            "scripts/demo.py",
            "--base-url",
            network.base,
            "--sandbox-url",
            network.sandbox,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr + network.output()[-3000:]
    assert "escrow released" in demo.stdout
    assert "ledger release  succeeded" in demo.stdout
    assert "completed (" in demo.stdout  # the payout, with its M-Pesa receipt


def test_every_escrow_step_is_a_fee_paying_transaction_found_by_its_hash(network):
    phone = "254722000711"
    boss = employer_client(network.base, f"+{phone}")
    worker = employer_client(network.base, "+254722000712", role="employee")

    def funded_job(title: str) -> dict:
        job = boss.post(
            "/api/jobs/", json={"title": title, "description": "Kasarani", "budget": "1200"}
        ).json()
        paid = httpx.post(
            f"{network.sandbox}/_sandbox/pay-bill",
            json={"account": job["escrow_contract_id"], "amount": 1200, "phone": phone},
            timeout=30,
        ).json()
        assert paid["completed"] is True, paid
        return settled(boss, job["id"], "funded")

    released = funded_job("Paint a gate")
    assert worker.post(f"/api/jobs/{released['id']}/apply/", json={}).status_code == 201
    assigned = boss.patch(f"/api/jobs/{released['id']}/", json={"employee": worker.user_id})
    assert assigned.status_code == 200, assigned.text
    assert boss.post(f"/api/jobs/{released['id']}/complete/").status_code == 200
    released = settled(boss, released["id"], "released")

    refunded = funded_job("Fix a door")
    assert boss.post(f"/api/jobs/{refunded['id']}/cancel/").status_code == 200
    refunded = settled(boss, refunded["id"], "refunded")

    for job, steps in ((released, {"create", "fund", "assign", "release"}), (refunded, {"refund"})):
        ops = job["escrow"]["transactions"]
        assert steps <= {op["operation"] for op in ops}, ops
        for op in ops:
            result = on_the_network(network.rpc, op["tx_hash"])
            assert result.fee_charged.int64 > 100, (op, result.fee_charged.int64)
