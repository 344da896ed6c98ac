"""Daraja as Safaricom documents it: the URLs it refuses, access tokens it refuses early, keys it
refuses, and its documented callback samples posted to our endpoints. Daraja is answered by
respx over HTTP; no stand-in is involved."""

import logging
import time
from decimal import Decimal

import httpx
import pytest
import respx
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from mpesa import reversals
from mpesa.daraja.callback_urls import DARAJA_CALLBACKS, CallbackUrlRefused, callback_url, refusals
from mpesa.daraja.client import DarajaCredentialsRefused, DarajaUnavailable
from mpesa.models import MpesaDeposit, MpesaReversal, ProviderCallback, StkPushRequest
from tests.api.helpers import post_job
from tests.rails import (
    CONSUMER_SECRET,
    DARAJA,
    OAUTH,
    PUBLIC,
    REGISTER,
    REVERSAL,
    STK_PUSH,
    STK_QUERY,
    daraja_client,
    daraja_error,
    posted,
    sample,
    token,
)


@pytest.fixture
def daraja_http():
    with respx.mock(base_url=DARAJA, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def production_urls(settings):
    settings.MPESA_ENV = "production"
    settings.MPESA_CALLBACK_BASE_URL = PUBLIC
    settings.MPESA_CALLBACK_TOKEN = "s3cretToken42"


# --- the URLs Daraja refuses ------------------------------------------------------------------

BANNED = {
    "mpesa": ["M-PESA", "M-Pesa", "mpesa", "MPESA", "MPesa", "m_pesa", "m.pesa", "m%2Dpesa"],
    "safaricom": ["Safaricom", "SAFARICOM", "safari-com"],
    "exe": ["exe", "EXEC", "Exec"],
    "cmd": ["cmd", "CMD", "c_md"],
    "sql": ["sql", "SQL", "MySql"],
    "query": ["query", "QUERY", "Query"],
}
PLACES = {
    "host": "https://{}.example.com/api/callbacks/stk/",
    "path": "https://api.example.com/api/{}/stk/",
    "query": "https://api.example.com/api/callbacks/stk/?token={}",
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(
    ("word", "spelling"), [(word, s) for word, spellings in BANNED.items() for s in spellings]
)
def test_a_banned_word_in_any_case_or_spelling_is_refused_wherever_it_is(word, spelling, place):
    for url in (PLACES[place].format(spelling), PLACES[place].format(f"pay{spelling}now")):
        found = refusals(url, production=False)
        assert found == [
            f"has {word!r} in its {place}, a word Daraja refuses in any case or spelling"
        ]


def test_a_token_with_a_banned_word_is_refused_without_being_quoted():
    found = refusals(f"{PUBLIC}/api/callbacks/stk/?token=aBcExecUte9", production=True)
    assert found == ["has 'exe' in its query, a word Daraja refuses in any case or spelling"]
    assert "aBcExecUte9" not in " ".join(found)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "app.localhost",
        "127.0.0.1",
        "10.0.0.5",
        "172.16.4.2",
        "192.168.1.10",
        "169.254.1.1",
        "[::1]",
        "[fe80::1]",
        "kazi.local",
        "myservice",
    ],
)
def test_production_refuses_hosts_safaricom_cannot_reach_and_http(host):
    assert refusals(f"http://{host}:8000/api/callbacks/stk/", production=True) == [
        "is http: Daraja's production calls only https URLs",
        f"names {host.strip('[]')}, which Safaricom cannot reach: the host must be public",
    ]
    assert refusals(f"http://{host}:8000/api/callbacks/stk/", production=False) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://3f2a-41-90-1-2.ngrok-free.app/api/callbacks/stk/",
        "https://abc.ngrok.io/api/callbacks/stk/",
        "https://mockbin.org/bin/1234",
        "https://requestb.in/1abc",
        "https://eo3k2.m.pipedream.net/",
    ],
)
def test_public_url_testers_are_refused(url):
    assert refusals(url, production=False)[-1].startswith("is on a public URL tester")


def test_a_public_https_url_is_taken():
    assert refusals(f"{PUBLIC}/api/callbacks/c2b/confirmation/?token=a1", production=True) == []


def test_every_url_we_give_daraja_is_free_of_what_it_refuses(production_urls):
    urls = {name: callback_url(name) for name in DARAJA_CALLBACKS}
    assert {name: url.removeprefix(PUBLIC) for name, url in urls.items()} == {
        "mpesa-c2b-confirmation": "/api/callbacks/c2b/confirmation/?token=s3cretToken42",
        "mpesa-c2b-validation": "/api/callbacks/c2b/validation/?token=s3cretToken42",
        "mpesa-stk-callback": "/api/callbacks/stk/?token=s3cretToken42",
        "mpesa-b2c-result": "/api/callbacks/b2c/result/?token=s3cretToken42",
        "mpesa-b2c-timeout": "/api/callbacks/b2c/timeout/?token=s3cretToken42",
        "mpesa-b2c-status": "/api/callbacks/b2c/status/?token=s3cretToken42",
        "mpesa-status-result": "/api/callbacks/transaction-status/result/?token=s3cretToken42",
        "mpesa-reversal-result": "/api/callbacks/reversal/result/?token=s3cretToken42",
        "mpesa-reversal-timeout": "/api/callbacks/reversal/timeout/?token=s3cretToken42",
    }


def test_a_url_daraja_would_refuse_is_never_built(production_urls, settings):
    settings.MPESA_CALLBACK_BASE_URL = "http://kazi-mpesa.example.com"
    with pytest.raises(CallbackUrlRefused) as refused:
        callback_url("mpesa-b2c-result")
    assert str(refused.value) == (
        "http://kazi-mpesa.example.com/api/callbacks/b2c/result/ (mpesa-b2c-result): "
        "has 'mpesa' in its host, a word Daraja refuses in any case or spelling; "
        "is http: Daraja's production calls only https URLs"
    )
    assert "s3cretToken42" not in str(refused.value)


def test_production_does_not_start_with_a_url_daraja_would_refuse(production_urls, settings):
    settings.PRODUCTION = True
    call_command("check")  # the clean configuration passes
    settings.MPESA_CALLBACK_BASE_URL = "https://10.0.0.7"
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", "--deploy")
    assert "mpesa.E001" in str(failed.value)
    assert "names 10.0.0.7, which Safaricom cannot reach" in str(failed.value)


def test_registration_refuses_before_calling_daraja(production_urls, settings, daraja_http):
    settings.MPESA_CALLBACK_BASE_URL = "https://mpesa-callbacks.kazitrust.co.ke"
    with pytest.raises(CommandError, match="has 'mpesa' in its host"):
        call_command("mpesa_register_urls")
    assert daraja_http.calls.call_count == 0


def test_registration_sends_the_clean_urls_and_never_prints_the_token(
    production_urls, daraja_http, monkeypatch, capsys
):
    monkeypatch.setattr("mpesa.management.commands.mpesa_register_urls.get_daraja", daraja_client)
    daraja_http.get(OAUTH).mock(return_value=token("t1"))
    register = daraja_http.post(REGISTER).respond(json=sample("daraja/c2b_register_url_answer"))
    call_command("mpesa_register_urls")
    sent = posted(register.calls.last.request)
    assert (
        sent["ConfirmationURL"] == f"{PUBLIC}/api/callbacks/c2b/confirmation/?token=s3cretToken42"
    )
    assert sent["ValidationURL"] == f"{PUBLIC}/api/callbacks/c2b/validation/?token=s3cretToken42"
    out = capsys.readouterr().out
    assert "s3cretToken42" not in out
    assert out.endswith("ResponseType Completed: Success\n")


# --- access tokens and credentials ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(404, "404.001.03"), (401, "404.001.03"), (400, "400.003.01")]
)
def test_a_token_revoked_mid_run_is_renewed_once_and_the_call_sent_again(
    db, daraja_http, status, code
):
    oauth = daraja_http.get(OAUTH).mock(side_effect=[token("first"), token("second")])
    answer = {"ResponseCode": "0", "ResultCode": "0", "CheckoutRequestID": "ws_CO_1"}
    query = daraja_http.post(STK_QUERY).mock(
        side_effect=[
            httpx.Response(200, json=answer),
            daraja_error(status, code, "Invalid Access Token"),  # someone else took a token
            httpx.Response(200, json=answer),
            httpx.Response(200, json=answer),
        ]
    )
    client = daraja_client()
    client.stk_query(checkout_request_id="ws_CO_1")
    assert client.stk_query(checkout_request_id="ws_CO_1")["ResultCode"] == "0"
    assert oauth.call_count == 2
    tokens = [call.request.headers["Authorization"] for call in query.calls]
    assert tokens == ["Bearer first", "Bearer first", "Bearer second"]
    assert client.stk_query(checkout_request_id="ws_CO_1")  # the renewed token is kept
    assert oauth.call_count == 2


def test_a_renewed_token_refused_too_is_not_asked_again_in_a_loop(db, daraja_http):
    oauth = daraja_http.get(OAUTH).mock(side_effect=[token("first"), token("second")])
    refused = daraja_error(404, "404.001.03", "Invalid Access Token")
    query = daraja_http.post(STK_QUERY).mock(return_value=refused)
    with pytest.raises(DarajaUnavailable, match="renewed access token was refused too"):
        daraja_client().stk_query(checkout_request_id="ws_CO_1")
    assert (oauth.call_count, query.call_count) == (2, 2)


def wrong_secret(daraja_http):
    body = daraja_error(400, "400.008.01", "Invalid Authentication passed")
    return daraja_http.get(OAUTH).mock(return_value=body)


def test_a_wrong_secret_is_one_clear_error_remembered_so_daraja_is_not_hammered(
    api, daraja_http, caplog, monkeypatch
):
    oauth = wrong_secret(daraja_http)
    stk = daraja_http.post(STK_QUERY)
    client = daraja_client()
    with caplog.at_level(logging.WARNING, logger="mpesa.daraja.client"):
        for _ in range(20):
            with pytest.raises(DarajaCredentialsRefused) as refused:
                client.stk_query(checkout_request_id="ws_CO_1")
    assert refused.value.code == "400.008.01"
    assert refused.value.retry_after == 60
    assert (oauth.call_count, stk.call_count) == (1, 0)
    said = [r for r in caplog.records if r.name == "mpesa.daraja.client"]
    assert [r.getMessage() for r in said] == [
        f"Daraja ({DARAJA}) refused our consumer key and secret (400.008.01): check "
        "MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET"
    ]
    assert CONSUMER_SECRET not in caplog.text

    health = api.anonymous().get("/api/health/").json()
    assert (health["status"], health["mpesa"]) == (
        "degraded",
        "error: credentials refused (400.008.01)",
    )

    later = time.time() + 61  # the memory has lapsed: Daraja is asked once more
    monkeypatch.setattr("mpesa.daraja.client.time.time", lambda: later)
    with pytest.raises(DarajaCredentialsRefused):
        client.stk_query(checkout_request_id="ws_CO_1")
    assert oauth.call_count == 2
    assert len([r for r in caplog.records if r.name == "mpesa.daraja.client"]) == 1

    oauth.mock(return_value=token("fixed"))  # the secret was corrected, a minute later
    monkeypatch.setattr("mpesa.daraja.client.time.time", lambda: later + 61)
    stk.respond(json={"ResponseCode": "0", "ResultCode": "0"})
    client.stk_query(checkout_request_id="ws_CO_1")
    assert api.anonymous().get("/api/health/").json()["mpesa"] == "ok"


def test_the_memory_of_refused_keys_is_shared_by_every_process(db, daraja_http):
    oauth = wrong_secret(daraja_http)
    with pytest.raises(DarajaCredentialsRefused):
        daraja_client().token()
    with pytest.raises(DarajaCredentialsRefused):
        daraja_client().token()  # another worker, the same cache
    assert oauth.call_count == 1
    assert cache.get("daraja:token") is None


def test_an_stk_push_with_refused_keys_is_a_clear_503(api, employer, daraja_http, monkeypatch):
    monkeypatch.setattr("mpesa.stk.get_daraja", daraja_client)
    wrong_secret(daraja_http)
    job = post_job(api, employer)
    for _ in range(3):
        response = api.as_user(employer).post(f"/api/jobs/{job['id']}/deposit/", {})
        assert response.status_code == 503
    assert response.json()["detail"] == (
        "M-Pesa payments are unavailable: Safaricom refused our M-Pesa credentials. "
        "Pay by Pay Bill, or try again later."
    )
    assert daraja_http.calls.call_count == 1
    assert not StkPushRequest.objects.exists()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_daraja_is_unavailable_with_its_retry_after(db, daraja_http, status):
    daraja_http.get(OAUTH).mock(return_value=token("t"))
    daraja_http.post(STK_QUERY).respond(status, headers={"Retry-After": "30"})
    with pytest.raises(DarajaUnavailable) as busy:
        daraja_client().stk_query(checkout_request_id="ws_CO_1")
    assert busy.value.retry_after == 30


# --- Safaricom's documented callbacks, posted to our endpoints --------------------------------


def callback_outcome() -> str:
    return ProviderCallback.objects.order_by("-pk").first().outcome


@pytest.mark.parametrize(
    "url", ["/api/callbacks/c2b/confirmation/", "/api/callbacks/mpesa/deposit/"]
)
def test_the_documented_confirmation_is_credited_or_kept(api, employer, url):
    payment = sample("daraja/c2b_payment")
    response = api.anonymous().post(url, payment)  # "Sample Transaction": no account of ours
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert callback_outcome() == "unmatched: KES 5.00 kept for review"

    job = post_job(api, employer)
    payment.update(BillRefNumber=job["escrow_contract_id"], TransID="RKL51ZDR4G")
    assert api.anonymous().post(url, payment).status_code == 200
    deposit = MpesaDeposit.objects.get(transaction_reference="RKL51ZDR4G")
    assert (deposit.credited_amount, deposit.phone_number) == (Decimal("5.00"), "2547 ***** 126")


def test_the_documented_validation_is_answered_in_darajas_format(api, employer):
    payment = sample("daraja/c2b_payment")
    url = "/api/callbacks/c2b/validation/"
    assert api.anonymous().post(url, payment).json() == {
        "ResultCode": "C2B00012",
        "ResultDesc": "Rejected",
    }
    payment["BillRefNumber"] = post_job(api, employer)["escrow_contract_id"]
    assert api.anonymous().post(url, payment).json() == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
    }


@pytest.fixture
def prompted(api, employer, daraja_http, monkeypatch, settings):
    """An STK push Daraja accepted with the CheckoutRequestID of its documented callback."""
    settings.MPESA_CALLBACK_BASE_URL = PUBLIC
    monkeypatch.setattr("mpesa.stk.get_daraja", daraja_client)
    daraja_http.get(OAUTH).mock(return_value=token("t"))
    push = daraja_http.post(STK_PUSH)
    job = post_job(api, employer)

    def prompt(callback: dict) -> dict:
        checkout_id = callback["Body"]["stkCallback"]["CheckoutRequestID"]
        push.respond(json={**sample("daraja/stk_push_answer"), "CheckoutRequestID": checkout_id})
        response = api.as_user(employer).post(f"/api/jobs/{job['id']}/deposit/", {})
        assert response.status_code == 201, response.content
        assert posted(push.calls.last.request)["CallBackURL"] == f"{PUBLIC}/api/callbacks/stk/"
        return job

    return prompt


def test_the_documented_paid_stk_callback_credits_the_escrow(api, prompted):
    callback = sample("daraja/stk_callback_paid")
    job = prompted(callback)
    response = api.anonymous().post("/api/callbacks/stk/", callback)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    deposit = MpesaDeposit.objects.get()
    assert (deposit.receipt_number, deposit.credited_amount) == ("NLJ7RT61SV", Decimal("1.00"))
    assert deposit.escrow_contract.contract_id == job["escrow_contract_id"]


def test_the_documented_cancelled_stk_callback_records_the_cancellation(api, prompted):
    callback = sample("daraja/stk_callback_cancelled")
    prompted(callback)
    assert api.anonymous().post("/api/callbacks/stk/", callback).status_code == 200
    prompt = StkPushRequest.objects.get()
    assert (prompt.status, prompt.result_message) == (
        "failed",
        "The payment was cancelled on the phone.",
    )
    assert not MpesaDeposit.objects.exists()


def test_the_documented_transaction_status_result_about_money_received_is_recorded(api):
    result = sample("daraja/transaction_status_result")
    url = "/api/callbacks/transaction-status/result/"
    assert api.anonymous().post(url, result).json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert callback_outcome() == (
        "status of MBN31H462N: Completed; MBN31H462N: no payment of ours matches; "
        "left for reconciliation"
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [("reversal_result_success", "completed"), ("reversal_result_failure", "failed")],
)
def test_the_documented_reversal_results_settle_the_reversal(
    api, daraja_http, monkeypatch, settings, name, status
):
    settings.MPESA_CALLBACK_BASE_URL = PUBLIC
    monkeypatch.setattr("mpesa.reversals.get_daraja", daraja_client)
    result = sample(f"daraja/{name}")
    stray = {**sample("daraja/c2b_payment"), "TransID": "SKC82PACB8"}  # for no account of ours
    api.anonymous().post("/api/callbacks/c2b/confirmation/", stray)
    daraja_http.get(OAUTH).mock(return_value=token("t"))
    accepted = {
        **sample("daraja/reversal_answer"),
        "ConversationID": result["Result"]["ConversationID"],
    }
    request = daraja_http.post(REVERSAL).respond(json=accepted)
    reversal = reversals.reversal_request(
        deposit_id=MpesaDeposit.objects.get().pk, requested_by=None
    )
    reversals.reversal_send(reversal_id=reversal.pk)
    sent = posted(request.calls.last.request)
    assert (sent["TransactionID"], sent["ResultURL"], sent["QueueTimeOutURL"]) == (
        "SKC82PACB8",
        f"{PUBLIC}/api/callbacks/reversal/result/",
        f"{PUBLIC}/api/callbacks/reversal/timeout/",
    )
    response = api.anonymous().post("/api/callbacks/reversal/result/", result)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert MpesaReversal.objects.get().status == status
