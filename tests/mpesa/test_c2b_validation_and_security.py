"""C2B validation, and who may call the M-Pesa callbacks (DESIGN §5)."""

import pytest

from mpesa.models import MpesaDeposit, ProviderCallback
from tests.api.helpers import CALLBACK, legacy_job, pay, post_job
from tests.conftest import c2b_payload

VALIDATION = "/api/callbacks/c2b/validation/"


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
    [CALLBACK, VALIDATION, "/api/callbacks/stk/", "/api/callbacks/reversal/result/"],
)
@pytest.mark.parametrize(
    ("query", "allowed"), [("?token=s3cret", True), ("", False), ("?token=wrong", False)]
)
def test_a_configured_url_token_is_required(api, employer, token, url, query, allowed):
    job = post_job(api, employer)
    response = api.anonymous().post(url + query, c2b_payload(job["escrow_contract_id"], "1500"))
    assert (response.status_code != 403) == allowed
    if not allowed:
        if url == VALIDATION:  # read-only: the refusal is logged, nothing stored
            assert not ProviderCallback.objects.exists()
        else:
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


def test_a_pay_bill_payment_is_validated_then_confirmed_at_the_registered_urls(
    api, employer, daraja
):
    """The sandbox's customer pays: M-Pesa calls our registered validation URL, then the
    confirmation URL, over HTTP, with Safaricom's C2B v2 payload (MSISDN masked)."""
    job = post_job(api, employer, "1500.00")
    with api._capture(execute=True):
        paid = daraja.pay_bill(job["escrow_contract_id"], 1500, phone="254712345678")
    assert paid["completed"] is True
    assert (paid["validation"]["answer_status"], paid["confirmation"]["answer_status"]) == (
        200,
        200,
    )
    sent = paid["confirmation"]["body"]
    assert set(sent) == {
        "TransactionType",
        "TransID",
        "TransTime",
        "TransAmount",
        "BusinessShortCode",
        "BillRefNumber",
        "InvoiceNumber",
        "OrgAccountBalance",
        "ThirdPartyTransID",
        "MSISDN",
        "FirstName",
        "MiddleName",
        "LastName",
    }
    assert (sent["TransAmount"], sent["MSISDN"]) == ("1500.00", "2547 ***** 678")
    assert paid["validation"]["body"]["OrgAccountBalance"] == ""  # known only once paid
    deposit = MpesaDeposit.objects.get()
    assert (deposit.transaction_reference, deposit.amount) == (paid["TransID"], 1500)
    kinds = list(ProviderCallback.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["mpesa_c2b_confirmation"]  # the validation, read-only, stores nothing


def test_a_payment_refused_at_validation_is_cancelled_and_never_confirmed(api, employer, daraja):
    job = post_job(api, employer, "1500.00")
    with api._capture(execute=True):
        paid = daraja.pay_bill(job["escrow_contract_id"], 2000)  # more than the escrow needs
    assert paid["completed"] is False
    assert '"C2B00013"' in paid["validation"]["answer"]
    assert paid["confirmation"] is None
    assert MpesaDeposit.objects.count() == 0
    assert daraja.transaction(paid["TransID"]) is None  # M-Pesa never took the money


def test_confirmations_reach_only_the_registered_url(api, employer, daraja, settings):
    """A confirmation URL registered on the wrong port reaches nobody: the money is M-Pesa's
    to report again, never silently credited (and validation, unanswered, falls back to the
    registered ResponseType)."""
    job = post_job(api, employer, "1500.00")
    daraja.register(
        confirmation_url="http://127.0.0.1:8001/api/callbacks/c2b/confirmation/",
        validation_url="http://127.0.0.1:8001/api/callbacks/c2b/validation/",
        response_type="Cancelled",
    )
    paid = daraja.pay_bill(job["escrow_contract_id"], 1500)
    assert paid["validation"]["error"].startswith("ConnectError")
    assert paid["completed"] is False  # Cancelled: M-Pesa could not validate
    daraja.register(
        # https, to a server that speaks plain http: nobody answers
        confirmation_url="https://127.0.0.1:8000/api/callbacks/c2b/confirmation/",
        validation_url="http://127.0.0.1:8000/api/callbacks/c2b/validation/",
    )
    daraja.faults.external_validation = False
    paid = daraja.pay_bill(job["escrow_contract_id"], 1500)
    assert paid["completed"] is True
    assert paid["confirmation"]["status"] == "failed"
    assert paid["confirmation"]["error"].startswith("ConnectError")
    assert MpesaDeposit.objects.count() == 0
