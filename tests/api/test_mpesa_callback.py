"""The M-Pesa C2B confirmation callback (DESIGN §3, §5; MONEY-SAFETY P2)."""

import json
from decimal import Decimal

import pytest

from escrow.models import EscrowContract
from mpesa.models import MpesaDeposit, ProviderCallback
from tests.api.helpers import CALLBACK, apply_and_assign, pay, post_job, row_counts
from tests.conftest import c2b_payload

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def escrow_of(job: dict) -> EscrowContract:
    return EscrowContract.objects.get(contract_id=job["escrow_contract_id"])


def test_a_replayed_callback_credits_once_and_gets_the_same_answer(api, employer, ledger):
    job = post_job(api, employer)
    answers = [pay(api, job) for _ in range(5)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, ACCEPTED)] * 5
    assert MpesaDeposit.objects.count() == 1
    assert escrow_of(job).funded_amount == Decimal("1500.00")
    assert [call for call in ledger.calls if call[0] == "fund"] == [
        ("fund", f"{job['escrow_contract_id']}:fund:RKTQDM7W6S")
    ]
    assert ProviderCallback.objects.count() == 5  # every delivery is on record


def test_raw_body_is_stored_before_anything_is_trusted(api, employer):
    job = post_job(api, employer)
    pay(api, job)
    callback = ProviderCallback.objects.get()
    assert json.loads(callback.body)["TransID"] == "RKTQDM7W6S"
    assert callback.remote_addr == "127.0.0.1"
    assert "credited KES 1500.00" in callback.outcome


@pytest.mark.parametrize(
    "typed",
    [
        lambda ref: ref.lower(),
        lambda ref: ref[7:],
        lambda ref: "ESCROW" + ref[7:],
        lambda ref: f"  {ref[:11]} {ref[11:]} ",
        lambda ref: ref.replace("_", "-"),
    ],
    ids=["lower-case", "no-prefix", "no-underscore", "spaces", "dash"],
)
def test_references_are_matched_forgivingly(api, employer, typed):
    job = post_job(api, employer)
    payload = c2b_payload(typed(job["escrow_contract_id"]), "1500.00")
    assert api.anonymous().post(CALLBACK, payload).json() == ACCEPTED
    assert escrow_of(job).status == "funded"


def wrong_check_character(ref: str) -> str:
    return ref[:-1] + ("0" if ref[-1] != "0" else "1")


@pytest.mark.parametrize(
    "reference",
    [wrong_check_character, lambda ref: "ESCROW_ZZZZZZZZ", lambda ref: "", lambda ref: "rent"],
    ids=["wrong-check-character", "unknown", "empty", "not-a-reference"],
)
def test_money_for_no_known_escrow_is_kept_unmatched(api, employer, reference):
    job = post_job(api, employer)
    payload = c2b_payload(reference(job["escrow_contract_id"]), "700.00")
    assert api.anonymous().post(CALLBACK, payload).json() == ACCEPTED
    deposit = MpesaDeposit.objects.get()
    assert deposit.escrow_contract is None
    assert deposit.amount == Decimal("700.00")
    assert escrow_of(job).funded_amount == 0
    assert ProviderCallback.objects.get().outcome.startswith("unmatched")


def test_underpayment_waits_for_the_rest(api, employer):
    job = post_job(api, employer, "1500.00")
    pay(api, job, "1000.00", trans_id="RKTQDM7W01")
    detail = api.as_user(employer).get(f"/api/jobs/{job['id']}/").json()
    assert detail["escrow"]["status"] == "pending_deposit"
    assert detail["escrow"]["funded_amount"] == "1000.00"
    assert detail["deposit_instructions"]["amount"] == "500.00"

    pay(api, job, "500.00", trans_id="RKTQDM7W02")
    detail = api.as_user(employer).get(f"/api/jobs/{job['id']}/").json()
    assert detail["escrow"]["status"] == "funded"
    assert detail["deposit_instructions"] is None


def test_overpayment_funds_and_records_the_surplus(api, employer, ledger):
    job = post_job(api, employer, "1500.00")
    pay(api, job, "2000.00")
    deposit = MpesaDeposit.objects.get()
    assert (deposit.credited_amount, deposit.surplus_amount) == (Decimal("1500"), Decimal("500"))
    assert escrow_of(job).status == "funded"
    assert ledger.get(job["escrow_contract_id"]).funded == 15_000_000_000


def test_money_for_a_funded_escrow_is_all_surplus(api, employer):
    job = post_job(api, employer)
    pay(api, job, trans_id="RKTQDM7W01")
    pay(api, job, "300.00", trans_id="RKTQDM7W02")
    late = MpesaDeposit.objects.get(transaction_reference="RKTQDM7W02")
    assert (late.credited_amount, late.surplus_amount) == (0, Decimal("300.00"))
    assert escrow_of(job).funded_amount == Decimal("1500.00")


def test_funding_an_assigned_job_starts_the_work(api, employer, employee):
    job = post_job(api, employer)
    assert apply_and_assign(api, employer, employee, job)["status"] == "assigned"
    pay(api, job)
    detail = api.as_user(employer).get(f"/api/jobs/{job['id']}/").json()
    assert detail["status"] == "in_progress"
    assert detail["escrow"]["status"] == "in_progress"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"TransAmount": "abc"}, "C2B00013"),
        ({"TransAmount": "-5.00"}, "C2B00013"),
        ({"TransAmount": "0"}, "C2B00013"),
        ({"TransAmount": "10.005"}, "C2B00013"),
        ({"TransAmount": None}, "C2B00013"),
        ({"TransID": ""}, "C2B00016"),
        ({"TransID": None}, "C2B00016"),
        ({"TransID": "DROP TABLE;"}, "C2B00016"),
    ],
)
def test_unreadable_payments_are_refused_in_darajas_format(api, employer, changes, code):
    job = post_job(api, employer)
    payload = {**c2b_payload(job["escrow_contract_id"], "1500.00"), **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    before = row_counts()
    response = api.anonymous().post(CALLBACK, payload)
    assert response.status_code == 400
    assert response.json()["ResultCode"] == code
    assert row_counts() == {**before, "ProviderCallback": before["ProviderCallback"] + 1}
    assert ProviderCallback.objects.latest("id").outcome.startswith("rejected")


@pytest.mark.parametrize("body", ["{not json", "", "[]", '"text"', "null"])
def test_malformed_bodies_are_refused(api, body):
    response = api.anonymous().raw_post(CALLBACK, body)
    assert response.status_code == 400
    assert response.json()["ResultCode"] == "C2B00016"
    assert MpesaDeposit.objects.count() == 0


def test_callbacks_from_other_addresses_are_refused_but_recorded(api, employer):
    job = post_job(api, employer)
    payload = c2b_payload(job["escrow_contract_id"], "1500.00")
    response = api.anonymous().post(CALLBACK, payload, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["ResultCode"] == "C2B00016"
    assert MpesaDeposit.objects.count() == 0
    assert escrow_of(job).funded_amount == 0
    assert ProviderCallback.objects.get().remote_addr == "203.0.113.9"


def test_safaricoms_published_addresses_are_allowed(api, employer):
    job = post_job(api, employer)
    payload = c2b_payload(job["escrow_contract_id"], "1500.00")
    response = api.anonymous().post(CALLBACK, payload, REMOTE_ADDR="196.201.214.200")
    assert response.json() == ACCEPTED
    assert escrow_of(job).status == "funded"
