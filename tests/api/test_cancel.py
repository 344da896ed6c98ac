"""An employer can withdraw a job before work starts; what was deposited is owed back."""

from decimal import Decimal

import pytest

from escrow.models import EscrowContract
from mpesa.models import MpesaDeposit
from tests.api.helpers import apply_and_assign, in_progress_job, pay, post_job, row_counts


def cancel(api, employer, job):
    return api.as_user(employer).post(f"/api/jobs/{job['id']}/cancel/")


def test_cancelling_an_unfunded_job(api, employer, ledger):
    job = post_job(api, employer)
    body = cancel(api, employer, job).json()
    assert (body["status"], body["escrow"]["status"]) == ("cancelled", "refunded")
    assert body["deposit_instructions"] is None
    assert ledger.calls == []  # nothing was ever on chain


def test_cancelling_refunds_what_was_deposited(api, employer, employee, ledger):
    job = post_job(api, employer, "1500.00")
    pay(api, job, "600.00")
    apply_and_assign(api, employer, employee, job)
    assert cancel(api, employer, job).status_code == 200
    escrow = EscrowContract.objects.get(contract_id=job["escrow_contract_id"])
    assert (escrow.status, escrow.refunded_amount, escrow.held_amount) == (
        "refunded",
        Decimal("600.00"),
        0,
    )
    on_chain = ledger.get(job["escrow_contract_id"])
    assert (on_chain.status, on_chain.refunded) == ("refunded", 6_000_000_000)


def test_money_arriving_after_cancelling_is_owed_back(api, employer):
    job = post_job(api, employer)
    cancel(api, employer, job)
    pay(api, job, "1500.00")
    deposit = MpesaDeposit.objects.get()
    assert (deposit.credited_amount, deposit.surplus_amount) == (0, Decimal("1500.00"))


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled"])
def test_work_in_progress_or_finished_cannot_be_cancelled(api, employer, employee, state):
    job = in_progress_job(api, employer, employee)
    if state == "completed":
        api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/")
    if state == "cancelled":
        job = post_job(api, employer)
        cancel(api, employer, job)
    before = row_counts()
    response = cancel(api, employer, job)
    assert response.status_code == 409
    assert row_counts() == before
