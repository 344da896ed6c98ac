"""The real thing: `python -m stellar_service` as its own process, over real HTTP."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.stellar_service.conftest import REF

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_service_process_serves_create_and_fund(tmp_path: Path) -> None:
    port, key = free_port(), "process-test-key"
    env = {
        **os.environ,
        "STELLAR_PORT": str(port),
        "STELLAR_SERVICE_DB": str(tmp_path / "service.sqlite3"),
        "STELLAR_CONTRACT_API_KEY": key,
        "STELLAR_BACKEND": "local",
    }
    log = (tmp_path / "service.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "stellar_service"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, "the service exited"
            try:
                health = httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=5) as http:
            created = http.post(
                "/api/escrow/create",
                json={"contract_id": REF, "amount": 1_500},
                headers={"Idempotency-Key": "c"},
            )
            assert created.status_code == 200, created.text
            funded = http.post(
                "/api/escrow/fund",
                json={"contract_id": REF, "amount": 1_500},
                headers={"Idempotency-Key": "f"},
            )
            assert funded.json()["escrow"]["status"] == "funded"
            assert http.get(f"/api/escrow/{REF}").json()["funded"] == 1_500
            assert http.get(f"/api/escrow/{REF}", headers={"X-API-Key": "x"}).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
    log.seek(0)
    output = log.read()
    assert "create ESCROW_7K3M9QXA key=c -> 200" in output
    assert key not in output
