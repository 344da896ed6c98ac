"""The real thing: `python -m stellar_service` as its own process, over real HTTP."""

from pathlib import Path

import httpx

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
