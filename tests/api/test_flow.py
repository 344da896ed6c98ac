from decimal import Decimal

from tests.conftest import c2b_payload


def test_whole_flow_pays_the_worker(api, employer, employee, ledger, daraja):
    job = (
        api.as_user(employer)
        .post("/api/jobs/", {"title": "Paint", "description": "Two rooms", "budget": "1500.00"})
        .json()
    )
    ref = job["escrow_contract_id"]
    assert job["status"] == "open"
    assert job["escrow"]["status"] == "pending_deposit"
    assert job["deposit_instructions"]["account_number"] == ref

    answer = api.anonymous().post("/api/callbacks/mpesa/deposit/", c2b_payload(ref, "1500.00"))
    assert answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}

    assert api.as_user(employee).post(f"/api/jobs/{job['id']}/apply/", {}).status_code == 201
    assigned = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", {"employee": employee.pk})
    assert assigned.json()["status"] == "in_progress"

    completed = api.post(f"/api/jobs/{job['id']}/complete/").json()
    assert completed["status"] == "completed"
    done = api.get(f"/api/jobs/{job['id']}/").json()
    assert done["escrow"]["status"] == "released"
    assert done["payout"]["status"] == "completed"
    assert Decimal(done["payout"]["amount"]) == Decimal("1500.00")
    assert ledger.get(ref).status == "released"
    b2c = daraja.sent("/mpesa/b2c/v3/paymentrequest")  # through the sandbox's Daraja, over HTTP
    assert [(p["OriginatorConversationID"], p["Amount"]) for p in b2c] == [
        (done["payout"]["reference"], "1500")
    ]
