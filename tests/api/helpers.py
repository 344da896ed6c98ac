"""Steps of the job flow over HTTP, for tests that need a job in a given state."""

from decimal import Decimal

from escrow.models import EscrowContract, LedgerOperation
from jobs.models import JobApplication, JobListing
from mpesa.models import MpesaDeposit, ProviderCallback
from payouts.models import MobileMoneyPayout
from tests.conftest import c2b_payload

CALLBACK = "/api/callbacks/mpesa/deposit/"
MODELS = [
    JobListing,
    JobApplication,
    EscrowContract,
    LedgerOperation,
    MpesaDeposit,
    MobileMoneyPayout,
]


def post_job(api, employer, budget: str = "1500.00") -> dict:
    response = api.as_user(employer).post(
        "/api/jobs/", {"title": "Paint", "description": "Two rooms", "budget": budget}
    )
    assert response.status_code == 201, response.content
    return response.json()


def legacy_job(api, employer, budget: str) -> dict:
    """A job as the API shows it, with a budget in cents: new budgets are whole shillings, jobs
    from before that rule may still carry cents."""
    from escrow.workflows import job_create

    job = job_create(employer=employer, title="Paint", description="Walls", budget=Decimal(budget))
    return api.as_user(employer).get(f"/api/jobs/{job.pk}/").json()


def pay(api, job: dict, amount: str | Decimal | None = None, trans_id: str = "RKTQDM7W6S"):
    payload = c2b_payload(job["escrow_contract_id"], amount or job["budget"], trans_id)
    return api.anonymous().post(CALLBACK, payload)


def apply_and_assign(api, employer, employee, job: dict) -> dict:
    assert api.as_user(employee).post(f"/api/jobs/{job['id']}/apply/", {}).status_code == 201
    response = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", {"employee": employee.pk})
    assert response.status_code == 200, response.content
    return response.json()


def in_progress_job(api, employer, employee, budget: str = "1500.00") -> dict:
    job = post_job(api, employer, budget)
    pay(api, job)
    return apply_and_assign(api, employer, employee, job)


def row_counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in MODELS}
    counts["ProviderCallback"] = ProviderCallback.objects.count()
    return counts
