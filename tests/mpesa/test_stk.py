"""STK push end to end through HTTP, against the local Daraja."""

from decimal import Decimal

import pytest

from mpesa.models import MpesaDeposit, ProviderCallback, StkPushRequest
from tests.api.helpers import legacy_job, pay, post_job, row_counts


def prompt(api, employer, job, **body):
    return api.as_user(employer).post(f"/api/jobs/{job['id']}/deposit/", body)


def test_a_paid_prompt_funds_the_escrow(api, employer, daraja, ledger):
    job = post_job(api, employer, "1500.00")
    response = prompt(api, employer, job)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert (body["amount"], body["phone_number"]) == ("1500.00", employer.phone_number)

    path, sent = daraja.requests[-1]
    assert path == "/mpesa/stkpush/v1/processrequest"
    assert sent["PhoneNumber"] == employer.phone_number.lstrip("+")
    assert sent["AccountReference"] == job["escrow_contract_id"][7:]
    assert len(sent["TransactionDesc"]) <= 13
    assert sent["Amount"] == "1500"

    detail = api.get(f"/api/jobs/{job['id']}/").json()
    assert detail["escrow"]["status"] == "funded"
    stk = StkPushRequest.objects.get()
    assert (stk.status, stk.result_code, stk.result_message) == ("completed", "0", "Paid.")
    deposit = stk.deposit
    assert deposit.source == "stk"
    assert deposit.transaction_reference == body["checkout_request_id"]
    assert len(deposit.receipt_number) == 10
    assert ledger.get(job["escrow_contract_id"]).funded == 15_000_000_000
    # Safaricom confirms the Pay Bill STK payment by C2B too, to our registered URL: credited once.
    confirmation = ProviderCallback.objects.get(kind="mpesa_c2b_confirmation")
    assert deposit.receipt_number in confirmation.body
    assert confirmation.outcome
    assert MpesaDeposit.objects.count() == 1


def test_the_prompt_asks_for_what_is_still_owed_rounded_up(api, employer, daraja):
    job = legacy_job(api, employer, "1500.50")
    pay(api, job, "1000.00")
    body = prompt(api, employer, job, phone_number="0722000111").json()
    assert (body["amount"], body["phone_number"]) == ("501.00", "+254722000111")
    deposit = MpesaDeposit.objects.get(source="stk")
    assert (deposit.credited_amount, deposit.surplus_amount) == (Decimal("500.50"), Decimal("0.50"))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1, "Not enough money in the M-Pesa account."),
        (17, "M-Pesa declined the payment for now. Try again in a few minutes."),
        (1019, "The prompt expired before it was answered."),
        (1025, "M-Pesa could not send the prompt. Try again."),
        (1032, "The payment was cancelled on the phone."),
        (1037, "The phone could not be reached. Check it is on and has signal."),
        (2001, "Wrong M-Pesa PIN."),
        (9999, "The payment failed."),
    ],
)
def test_each_result_code_leaves_a_clear_status(api, employer, daraja, code, message):
    daraja.faults.stk_result_code = code
    job = post_job(api, employer)
    prompt(api, employer, job)
    stk = StkPushRequest.objects.get()
    assert (stk.status, stk.result_code, stk.result_message) == ("failed", str(code), message)
    assert MpesaDeposit.objects.count() == 0
    assert api.get(f"/api/jobs/{job['id']}/").json()["escrow"]["status"] == "pending_deposit"


def test_a_callback_delivered_twice_credits_once(api, employer, daraja, ledger):
    daraja.faults.callback_copies = 2
    job = post_job(api, employer)
    prompt(api, employer, job)
    assert MpesaDeposit.objects.count() == 1
    assert ProviderCallback.objects.filter(kind="mpesa_stk").count() == 2
    assert [op for op, _ in ledger.calls].count("fund") == 1


def test_a_late_callback_after_the_query_changes_nothing(api, employer, daraja, settings):
    from datetime import timedelta

    from mpesa.tasks import mpesa_reconcile

    daraja.faults.hold_callbacks = True
    job = post_job(api, employer)
    prompt(api, employer, job)
    assert StkPushRequest.objects.get().status == "pending"
    assert mpesa_reconcile() == 0  # not overdue yet: no query
    settings.MPESA_STK_TIMEOUT = timedelta(0)
    assert mpesa_reconcile() == 1
    stk = StkPushRequest.objects.get()
    assert stk.status == "completed"
    pushes = [p for p, _ in daraja.requests if p == "/mpesa/stkpush/v1/processrequest"]
    assert len(pushes) == 1  # resolved by a query, never by a second prompt
    with api._capture(execute=True):
        daraja.release_held()
    assert MpesaDeposit.objects.count() == 1
    detail = api.as_user(employer).get(f"/api/jobs/{job['id']}/").json()
    assert detail["escrow"]["funded_amount"] == "1500.00"


def test_a_prompt_that_is_never_answered_is_resolved_by_query(api, employer, daraja, settings):
    from datetime import timedelta

    from mpesa.tasks import mpesa_reconcile

    daraja.faults.callback_copies = 0
    daraja.faults.stk_result_code = 1037
    job = post_job(api, employer)
    prompt(api, employer, job)
    settings.MPESA_STK_TIMEOUT = timedelta(0)
    mpesa_reconcile()
    assert StkPushRequest.objects.get().status == "failed"


def test_nothing_owed_is_a_409(api, employer, daraja):
    job = post_job(api, employer)
    pay(api, job)
    before = row_counts()
    response = prompt(api, employer, job)
    assert response.status_code == 409
    assert row_counts() == before
    assert daraja.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone_number": "0202222222"}, "phone_number"),
        ({"amount": "0"}, "amount"),
        ({"amount": "10.50"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"shortcode": "1"}, "shortcode"),
    ],
)
def test_bad_prompt_requests_are_400s(api, employer, daraja, body, field):
    job = post_job(api, employer)
    response = prompt(api, employer, job, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert daraja.requests == []


def test_asking_for_more_than_is_owed_is_refused(api, employer, daraja):
    job = post_job(api, employer, "100.00")
    response = prompt(api, employer, job, amount="101")
    assert response.status_code == 400
    assert response.json()["code"] == "amount_too_high"


@pytest.mark.parametrize(("fault", "status"), [("fail_requests", 503)])
def test_daraja_down_is_a_clear_error(api, employer, daraja, fault, status):
    setattr(daraja.faults, fault, 5)
    job = post_job(api, employer)
    response = prompt(api, employer, job)
    assert response.status_code == status
    assert response.json()["code"] == "mpesa_unavailable"
    assert StkPushRequest.objects.count() == 0


def test_others_cannot_prompt_for_a_job(api, employer, employee, daraja):
    job = post_job(api, employer)
    assert api.as_user(employee).post(f"/api/jobs/{job['id']}/deposit/").status_code == 403
    assert daraja.requests == []


def test_an_unknown_checkout_id_is_refused_and_recorded(api):
    payload = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "1",
                "CheckoutRequestID": "ws_CO_X",
                "ResultCode": 0,
                "ResultDesc": "ok",
            }
        }
    }
    response = api.anonymous().post("/api/callbacks/stk/", payload)
    assert response.status_code == 404
    assert response.json()["ResultCode"] == "1"
    assert MpesaDeposit.objects.count() == 0
    assert "unknown CheckoutRequestID" in ProviderCallback.objects.get().outcome


def test_the_same_receipt_by_c2b_after_stk_is_not_credited_twice(api, employer, daraja):
    job = post_job(api, employer)
    prompt(api, employer, job)
    receipt = MpesaDeposit.objects.get().receipt_number
    pay(api, job, "1500.00", trans_id=receipt)  # Safaricom also confirms it by C2B
    assert MpesaDeposit.objects.count() == 1
    detail = api.as_user(employer).get(f"/api/jobs/{job['id']}/").json()
    assert detail["escrow"]["funded_amount"] == "1500.00"
