"""The whole job flow with Django talking to a real Stellar contract service process over HTTP,
as production runs it: deposit, assignment, completion, release on the ledger, payout."""

from decimal import Decimal

import httpx
import pytest

from escrow.ledger import get_ledger
from escrow.ledger.service import ServiceLedger
from stellar_service.process import running_service
from tests.api.helpers import in_progress_job, post_job

API_KEY = "e2e-stellar-key"


@pytest.fixture
def service_url(settings, tmp_path):
    with running_service(tmp_path, API_KEY) as (url, _):
        settings.STELLAR_CONTRACT_SERVICE_URL = url
        settings.STELLAR_CONTRACT_API_KEY = API_KEY
        get_ledger.cache_clear()
        yield url
    get_ledger.cache_clear()


def test_the_job_flow_runs_through_the_service_process(api, employer, employee, service_url):
    assert isinstance(get_ledger(), ServiceLedger)
    job = in_progress_job(api, employer, employee, budget="2500.00")
    ref = job["escrow_contract_id"]

    done = api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/")
    assert done.status_code == 200, done.content
    job = api.get(f"/api/jobs/{job['id']}/").json()
    assert job["escrow"]["status"] == "released"
    assert job["payout"]["status"] == "completed"
    assert Decimal(job["payout"]["amount"]) == Decimal("2500.00")

    headers = {"X-API-Key": API_KEY}
    on_chain = httpx.get(f"{service_url}/api/escrow/{ref}", headers=headers).json()
    assert on_chain["status"] == "released"
    assert on_chain["funded"] == on_chain["released"] == 25_000_000_000
    assert on_chain["payee_id"] == employee.pk  # the platform payout account, muxed with the id

    # The hashes shown on the job are the service's: replaying a recorded operation with its key
    # answers with the same hash and moves nothing.
    recorded = {tx["operation"]: tx["tx_hash"] for tx in job["escrow"]["transactions"]}
    assert set(recorded) == {"create", "fund", "assign", "release"}
    replay = httpx.post(
        f"{service_url}/api/escrow/release",
        json={"contract_id": ref},
        headers={**headers, "Idempotency-Key": f"{ref}:release"},
    )
    assert replay.json()["tx_hash"] == recorded["release"]
    assert httpx.get(f"{service_url}/api/escrow/{ref}", headers=headers).json() == on_chain


def test_the_service_refuses_our_requests_without_its_key(api, employer, service_url):
    job = post_job(api, employer)
    answer = httpx.get(f"{service_url}/api/escrow/{job['escrow_contract_id']}")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"]
