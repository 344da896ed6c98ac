"""The real thing: `python -m stellar_service` as its own process, over real HTTP."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from stellar_service.config import DEFAULT_API_KEY
from stellar_service.process import running_service
from tests.stellar_service.conftest import REF

KEY = "process-test-key"


def test_the_service_process_serves_create_and_fund(tmp_path: Path) -> None:
    with (
        running_service(tmp_path, KEY) as (url, _),
        httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=5) as http,
    ):
        assert http.get("/api/health").json()["status"] == "ok"
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
    assert (tmp_path / "stellar-service.sqlite3").exists()
    output = (tmp_path / "stellar-service.log").read_text()
    assert "create ESCROW_7K3M9QXA key=c -> 200" in output
    assert KEY not in output


def test_production_refuses_to_start_on_the_default_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAZI_ENV": "production",
        "STELLAR_CONTRACT_API_KEY": DEFAULT_API_KEY,
        "STELLAR_SERVICE_DB": str(tmp_path / "service.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "stellar_service"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "refuses the embedded default API key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "service.sqlite3").exists()
