"""C2B validation, and who may call the M-Pesa callbacks (DESIGN §5)."""

import pytest

from payments.daraja.local import c2b_payload as daraja_c2b
from payments.models import MpesaDeposit, ProviderCallback
from tests.api.helpers import CALLBACK, legacy_job, pay, post_job
from tests.conftest import c2b_payload

VALIDATION = "/api/callbacks/mpesa/validation/"


@pytest.mark.parametrize(
    ("reference", "amount", "code"),
    [
        (lambda ref: ref, "1500.00", "0"),
        (lambda ref: ref[7:].lower(), "1500", "0"),
        (lambda ref: ref, "1000.00", "0"),
        (lambda ref: ref, "1501.00", "C2B00013"),
        (lambda ref: ref, "0.50", "C2B00013"),
        (lambda ref: "ESCROW_ZZZZZZZZ", "1500.00", "C2B00012"),
        (lambda ref: ref[:-1] + ("0" if ref[-1] != "0" else "1"), "1500.00", "C2B00012"),
        (lambda ref: "", "1500.00", "C2B00012"),
    ],
)
def test_validation_accepts_only_what_an_escrow_needs(api, employer, reference, amount, code):
    job = post_job(api, employer, "1500.00")
    payload = c2b_payload(reference(job["escrow_contract_id"]), amount)
    response = api.anonymous().post(VALIDATION, payload)
    assert response.status_code == 200
    assert response.json()["ResultCode"] == code
    assert MpesaDeposit.objects.count() == 0  # validation never credits


def test_validation_refuses_money_for_a_funded_escrow(api, employer):
    job = post_job(api, employer)
    pay(api, job)
    response = api.anonymous().post(VALIDATION, c2b_payload(job["escrow_contract_id"], "10"))
    assert response.json()["ResultCode"] == "C2B00013"


def test_validation_allows_rounding_up_a_budget_with_cents(api, employer):
    job = legacy_job(api, employer, "1500.40")
    response = api.anonymous().post(VALIDATION, c2b_payload(job["escrow_contract_id"], "1501"))
    assert response.json()["ResultCode"] == "0"


@pytest.fixture
def token(settings):
    settings.MPESA_CALLBACK_TOKEN = "s3cret"
    return "s3cret"


@pytest.mark.parametrize(
    "url",
    [CALLBACK, VALIDATION, "/api/callbacks/mpesa/stk/", "/api/callbacks/mpesa/reversal/result/"],
)
@pytest.mark.parametrize(
    ("query", "allowed"), [("?token=s3cret", True), ("", False), ("?token=wrong", False)]
)
def test_a_configured_url_token_is_required(api, employer, token, url, query, allowed):
    job = post_job(api, employer)
    response = api.anonymous().post(url + query, c2b_payload(job["escrow_contract_id"], "1500"))
    assert (response.status_code != 403) == allowed
    if not allowed:
        assert "URL token" in ProviderCallback.objects.get().outcome
        assert MpesaDeposit.objects.count() == 0


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "allowed"),
    [
        ([], "127.0.0.1", "203.0.113.9", True),  # no trusted proxy: X-Forwarded-For ignored
        ([], "203.0.113.9", "196.201.214.200", False),  # a forged header does not help
        (["10.0.0.0/8"], "10.1.2.3", "196.201.214.200", True),  # behind our proxy
        (["10.0.0.0/8"], "10.1.2.3", "203.0.113.9", False),
        (["10.0.0.0/8"], "10.1.2.3", "196.201.214.200, 10.9.9.9", True),  # two of our hops
        (["10.0.0.0/8"], "10.1.2.3", "203.0.113.9, 196.201.214.200", True),  # right-most wins
    ],
)
def test_x_forwarded_for_only_from_trusted_proxies(
    api, employer, settings, trusted, remote, forwarded, allowed
):
    settings.TRUSTED_PROXIES = trusted
    settings.MPESA_CALLBACK_ALLOWED_IPS = ["196.201.214.200", "127.0.0.1"]
    job = post_job(api, employer)
    response = api.anonymous().post(
        CALLBACK,
        c2b_payload(job["escrow_contract_id"], "1500"),
        REMOTE_ADDR=remote,
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    assert (response.status_code == 200) == allowed
    assert MpesaDeposit.objects.count() == int(allowed)


def test_make_pay_plays_a_customer_against_a_running_server(live_server, transactional_db):
    from django.core.management import call_command

    from jobs.services import job_create
    from tests.factories import EmployerFactory

    job = job_create(employer=EmployerFactory(), title="T", description="D", budget="1500.00")
    call_command("mpesa_pay", job.escrow.contract_id, "1500", "--base-url", live_server.url)
    deposit = MpesaDeposit.objects.get()
    assert deposit.escrow_contract == job.escrow
    assert deposit.phone_number == "2547 ***** 126"
    assert ProviderCallback.objects.filter(kind="mpesa_c2b_validation").count() == 1


def test_the_local_c2b_payload_is_what_safaricom_sends():
    payload = daraja_c2b(shortcode="600000", reference="ESCROW_X", amount=1500)
    assert set(payload) >= {
        "TransactionType",
        "TransID",
        "TransTime",
        "TransAmount",
        "BusinessShortCode",
        "BillRefNumber",
        "MSISDN",
    }
    assert payload["TransAmount"] == "1500.00"
    assert len(payload["TransID"]) == 10
