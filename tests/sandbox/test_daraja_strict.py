"""The sandbox's Daraja says no where Daraja says no, with Daraja's codes and body shapes
(`{"requestId", "errorCode", "errorMessage"}`), and yes to what Daraja takes (numbers as JSON
numbers or strings). Requests come from a plain httpx client, not ours: any client works."""

import time
from dataclasses import replace

import pytest

from sandbox import daraja as sandbox_daraja
from tests.sandbox.conftest import (
    B2C,
    OUR,
    REGISTER,
    REVERSAL,
    STATUS,
    STK,
    STK_QUERY,
    refused,
    sent_to,
)

INVALID_TOKEN = (401, "404.001.03", "Invalid Access Token")


# --- OAuth and tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "auth", "code", "message"),
    [
        ({}, "right", "400.008.02", "Invalid grant type passed"),
        ({"grant_type": "password"}, "right", "400.008.02", "Invalid grant type passed"),
        ({"grant_type": "client_credentials"}, ("wrong", "secret"), "400.008.01", None),
        ({"grant_type": "client_credentials"}, ("key", "wrong"), "400.008.01", None),
        ({"grant_type": "client_credentials"}, None, "400.008.01", None),
    ],
)
def test_oauth_refuses_a_wrong_grant_type_or_wrong_credentials(
    caller, settings, params, auth, code, message
):
    if auth == "right":
        auth = (settings.MPESA_CONSUMER_KEY, settings.MPESA_CONSUMER_SECRET)
    elif auth and auth[0] == "key":
        auth = (settings.MPESA_CONSUMER_KEY, auth[1])
    answer = caller.http.get("/oauth/v1/generate", params=params, auth=auth)
    assert refused(answer, 400, code, message or "Invalid Authentication passed")


def test_oauth_gives_a_token_valid_for_3599_seconds(caller):
    answer = caller.http.get(
        "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(caller.settings.MPESA_CONSUMER_KEY, caller.settings.MPESA_CONSUMER_SECRET),
    )
    body = answer.json()
    assert (answer.status_code, set(body), body["expires_in"]) == (
        200,
        {"access_token", "expires_in"},
        "3599",
    )
    assert len(body["access_token"]) == 28


def test_a_new_token_invalidates_the_old_one(caller):
    first, second = caller.token(), caller.token()
    query = {"BusinessShortCode": 600000, "CheckoutRequestID": "ws_CO_1"}
    assert refused(caller.post(STK_QUERY, query, token=first), *INVALID_TOKEN)
    assert caller.post(STK_QUERY, query, token=second).status_code != 401
    assert refused(caller.post(STK_QUERY, query, token=""), *INVALID_TOKEN)
    assert refused(
        caller.post(STK_QUERY, query, token="c9SQxWWhmdVRlyh0zh8gZDTkubVF"), *INVALID_TOKEN
    )


def test_an_expired_or_revoked_token_is_refused(caller, daraja, monkeypatch):
    token = caller.token()
    daraja.faults.revoke_token = True  # mid-run: Safaricom drops the token
    assert refused(caller.post(STK, caller.stk(), token=token), *INVALID_TOKEN)
    assert caller.post(STK, caller.stk(), token=caller.token()).status_code == 200
    later = time.time() + 3600
    monkeypatch.setattr(sandbox_daraja.time, "time", lambda: later)
    assert refused(caller.post(STK, caller.stk()), *INVALID_TOKEN)


def test_unknown_paths_wrong_methods_and_unreadable_bodies(caller):
    assert refused(
        caller.post("/mpesa/stkpush/v2/processrequest", {}), 404, "404.001.01", "Resource not found"
    )
    answer = caller.http.get(STK, headers={"Authorization": f"Bearer {caller.token()}"})
    assert refused(answer, 405, "405.001", "Method Not Allowed")
    answer = caller.http.post(
        STK, content=b"{not json", headers={"Authorization": f"Bearer {caller.token()}"}
    )
    assert refused(answer, 400, "400.002.05", "Invalid Request Payload")
    assert refused(caller.post(STK, []), 400, "400.002.05", "Invalid Request Payload")


# --- M-Pesa Express ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"BusinessShortCode": "600000", "PartyB": "600000"},
        {"Amount": "1500", "PartyA": "254712345678", "PhoneNumber": "254712345678"},
        {"Amount": 1500.0},
        {"TransactionDesc": None},
    ],
)
def test_stk_push_takes_numbers_as_numbers_or_strings(caller, changes):
    answer = caller.post(STK, caller.stk(**changes))
    assert answer.status_code == 200, answer.text
    assert answer.json()["ResponseCode"] == "0"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"Amount": "1500.50"}, "Amount"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"PartyA": "0712345678"}, "PartyA"),
        ({"PhoneNumber": 254202222222}, "PhoneNumber"),  # a landline
        ({"PhoneNumber": "+254712345678"}, "PhoneNumber"),
        ({"AccountReference": "ESCROW_7KQ2M9XD"}, "AccountReference"),  # more than 12
        ({"AccountReference": ""}, "AccountReference"),
        ({"TransactionDesc": "Kazi escrow deposit"}, "TransactionDesc"),  # more than 13
        ({"CallBackURL": "/api/callbacks/stk/"}, "CallBackURL"),
        ({"TransactionType": "PayBill"}, "TransactionType"),
        ({"Timestamp": "2026-11-23"}, "Timestamp"),
        ({"BusinessShortCode": "60000O"}, "BusinessShortCode"),
    ],
)
def test_stk_push_refuses_a_field_daraja_would_not_take(caller, changes, field):
    assert refused(
        caller.post(STK, caller.stk(**changes)), 400, "400.002.02", f"Bad Request - Invalid {field}"
    )


def test_a_wrong_stk_password_or_shortcode_is_refused_as_daraja_does(caller):
    wrong = caller.stk(Password="bm90IHRoZSBwYXNzd29yZA==")
    assert refused(caller.post(STK, wrong), 500, "500.001.1001", "Wrong credentials")
    other = caller.stk(BusinessShortCode=174379)
    assert refused(caller.post(STK, other), 500, "500.001.1001", "Merchant does not exist")


def test_a_prompt_to_another_pay_bill_fails_in_its_callback(caller, daraja, sandbox):
    answer = caller.post(STK, caller.stk(PartyB=174379)).json()
    callback = daraja.stk_callback(answer["CheckoutRequestID"])["Body"]["stkCallback"]
    assert (callback["ResultCode"], "CallbackMetadata" in callback) == (2028, False)


def test_stk_query_refuses_unknown_prompts_and_waits_for_the_customer(caller, daraja):
    query = {
        k: v for k, v in caller.stk().items() if k in {"BusinessShortCode", "Password", "Timestamp"}
    }
    unknown = caller.post(STK_QUERY, {**query, "CheckoutRequestID": "ws_CO_1"})
    assert refused(unknown, 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
    daraja.pin_seconds = 60  # the customer has the prompt on the phone for a minute
    checkout = caller.post(STK, caller.stk()).json()["CheckoutRequestID"]
    waiting = caller.post(STK_QUERY, {**query, "CheckoutRequestID": checkout})
    assert refused(waiting, 500, "500.001.1001", "The transaction is being processed")


# --- C2B Register URL --------------------------------------------------------------------------


def register(caller, confirmation: str, validation: str | None = None, **changes: object):
    body = {
        "ShortCode": int(caller.settings.MPESA_SHORTCODE),
        "ResponseType": "Completed",
        "ConfirmationURL": confirmation,
        "ValidationURL": validation or f"{OUR}/c2b/validation/",
        **changes,
    }
    return caller.post(REGISTER, body)


@pytest.mark.parametrize(
    "url",
    [
        "https://kazi.example/mpesa/confirmation/",
        "https://kazi.example/callbacks/M-PESA/confirmation/",
        "https://kazi.example/m_pesa/confirmation/",
        "https://kazi.example/M%2DPesa/confirmation/",
        "https://mpesa.kazi.example/confirmation/",
        "https://kazi.example/safaricom/confirmation/",
        "https://kazi.example/confirmation.exe",
        "https://kazi.example/exec/confirmation/",
        "https://kazi.example/cmd/confirmation/",
        "https://kazi.example/SQL/confirmation/",
        "https://kazi.example/confirmation/?query=1",
        "kazi.example/confirmation/",
    ],
)
def test_register_url_refuses_urls_that_break_darajas_rules(caller, daraja, url):
    assert refused(
        register(caller, url), 400, "400.002.02", "Bad Request - Invalid ConfirmationURL"
    )
    validation = register(caller, f"{OUR}/c2b/confirmation/", url)
    assert refused(validation, 400, "400.002.02", "Bad Request - Invalid ValidationURL")
    assert daraja.registration()["confirmation_url"] != url  # the seeded one stands


@pytest.mark.parametrize(
    "url",
    [
        "http://api.kazitrust.co.ke/api/callbacks/c2b/confirmation/",
        "https://127.0.0.1:8000/api/callbacks/c2b/confirmation/",
        "https://localhost/api/callbacks/c2b/confirmation/",
        "https://10.0.0.5/api/callbacks/c2b/confirmation/",
        "https://192.168.1.20/api/callbacks/c2b/confirmation/",
        "https://web/api/callbacks/c2b/confirmation/",
        "https://kazi.local/api/callbacks/c2b/confirmation/",
        "https://3f2a-41-90.ngrok-free.app/api/callbacks/c2b/confirmation/",
        "https://mockbin.org/bin/7c2b",
        "https://eo1.x.pipedream.net.requestbin.example/c",
    ],
)
def test_production_refuses_what_the_sandbox_environment_allows(caller, daraja, url):
    assert register(caller, url).status_code == 200  # Safaricom's sandbox: allowed
    daraja.reset()  # a production shortcode with nothing registered yet
    daraja.faults.as_production = True
    caller.token()
    assert refused(
        register(caller, url), 400, "400.002.02", "Bad Request - Invalid ConfirmationURL"
    )


def test_production_registers_once(caller, daraja):
    daraja.reset()
    daraja.faults.as_production = True
    caller.token()
    first = register(caller, f"{OUR}/c2b/confirmation/")
    assert (first.status_code, first.json()["ResponseCode"]) == (200, "0")
    again = register(caller, f"{OUR}/c2b/confirmation/")
    assert refused(again, 500, "500.003.1001", "Urls are already registered.")


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"ResponseType": "completed"}, "ResponseType"), ({"ShortCode": 174379}, "ShortCode")],
)
def test_register_url_refuses_a_wrong_response_type_or_shortcode(caller, changes, field):
    answer = register(caller, f"{OUR}/c2b/confirmation/", **changes)
    assert refused(answer, 400, "400.002.02", f"Bad Request - Invalid {field}")


# --- B2C ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{}, {"Amount": "1500", "PartyA": "600000", "PartyB": "254712345678"}, {"Occassion": None}],
)
def test_b2c_takes_numbers_as_numbers_or_strings(caller, changes):
    answer = caller.post(B2C, caller.b2c(**changes))
    assert answer.json() == {
        "ConversationID": answer.json()["ConversationID"],
        "OriginatorConversationID": "PAYOUT_7KQ2M9XD",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"OriginatorConversationID": ""}, "OriginatorConversationID"),
        ({"CommandID": "B2CPayment"}, "CommandID"),
        ({"Amount": "1500.50"}, "Amount"),
        ({"PartyB": "0712345678"}, "PartyB"),
        ({"PartyB": 254202222222}, "PartyB"),
        ({"Remarks": "x"}, "Remarks"),
        ({"ResultURL": "/b2c/result/"}, "ResultURL"),
        ({"QueueTimeOutURL": None}, "QueueTimeOutURL"),
        ({"SecurityCredential": ""}, "SecurityCredential"),
    ],
)
def test_b2c_refuses_a_field_daraja_would_not_take(caller, changes, field):
    assert refused(
        caller.post(B2C, caller.b2c(**changes)), 400, "400.002.02", f"Bad Request - Invalid {field}"
    )


def test_a_repeated_originator_conversation_id_is_refused(caller, daraja):
    assert caller.post(B2C, caller.b2c()).status_code == 200
    again = caller.post(B2C, caller.b2c(Amount=10))
    assert refused(again, 500, "500.002.1001", "Duplicate OriginatorConversationID.")
    assert daraja.b2c_count() == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"SecurityCredential": "someone-elses"}, 2001),
        ({"InitiatorName": "someone"}, 2001),
        ({"PartyA": 174379}, 2028),  # a shortcode our initiator cannot pay from
        ({"Amount": 9}, 2),
        ({"Amount": 250001}, 3),
    ],
)
def test_b2c_accepts_then_refuses_in_the_result(caller, daraja, sandbox, changes, code):
    """As M-Pesa: the request is accepted (200), the verdict comes to the ResultURL."""
    answer = caller.post(B2C, caller.b2c(**changes))
    assert (answer.status_code, answer.json()["ResponseCode"]) == (200, "0")
    (result,) = sent_to(sandbox, f"{OUR}/b2c/result/")
    assert result == daraja.b2c_result("PAYOUT_7KQ2M9XD")
    assert (result["Result"]["ResultCode"], "ResultParameters" in result["Result"]) == (code, False)
    if code == 2001:
        assert result["Result"]["ResultDesc"] == "The initiator information is invalid."


def test_b2c_without_the_float_fails_for_insufficient_balance(settings, tmp_path):
    from sandbox import Sandbox
    from sandbox.daraja import Daraja
    from tests.outside_world import sandbox_for_tests
    from tests.sandbox.conftest import Caller

    account = sandbox_for_tests(tmp_path / "rich.sqlite3").daraja.account
    poor = Sandbox(tmp_path / "poor.sqlite3", [Daraja(replace(account, opening_float=1000))])
    caller = Caller(poor, settings)
    assert caller.post(B2C, caller.b2c(Amount=999)).status_code == 200  # with the fee: too much
    assert poor.daraja.b2c_result("PAYOUT_7KQ2M9XD")["Result"]["ResultCode"] == 1


# --- Transaction Status ------------------------------------------------------------------------


def test_transaction_status_needs_the_receipt_or_the_original_conversation_id(caller):
    neither = caller.status(OriginalConversationID="")
    assert refused(
        caller.post(STATUS, neither), 400, "400.002.02", "Bad Request - Invalid TransactionID"
    )
    # OriginatorConversationID names the query itself, not the transaction asked about.
    wrong_key = {**neither, "OriginatorConversationID": "PAYOUT_7KQ2M9XD"}
    assert refused(
        caller.post(STATUS, wrong_key), 400, "400.002.02", "Bad Request - Invalid TransactionID"
    )
    other = caller.status(IdentifierType="9")
    assert refused(
        caller.post(STATUS, other), 400, "400.002.02", "Bad Request - Invalid IdentifierType"
    )


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, "R000002"),  # no such transaction
        ({"SecurityCredential": "someone-elses"}, 2001),
    ],
)
def test_transaction_status_of_nothing_or_by_a_wrong_initiator(caller, sandbox, changes, code):
    answer = caller.post(STATUS, caller.status(**changes))
    assert answer.status_code == 200
    (result,) = sent_to(sandbox, f"{OUR}/b2c/status/")
    assert result["Result"]["ResultCode"] == code
    assert "ResultParameters" not in result["Result"]


def test_transaction_status_asked_of_the_wrong_shortcode_finds_nothing(caller, sandbox):
    caller.post(B2C, caller.b2c())
    caller.post(STATUS, caller.status(PartyA="600111"))
    caller.post(STATUS, caller.status())
    found = [r["Result"]["ResultCode"] for r in sent_to(sandbox, f"{OUR}/b2c/status/")]
    assert found == ["R000002", 0]


# --- Reversal ----------------------------------------------------------------------------------


def test_a_reversal_is_refused_for_unknown_or_already_reversed_transactions(
    caller, daraja, sandbox
):
    paid = daraja.pay_bill("rent", 300, trans_id="RKTQDM7W6S")
    assert paid["completed"]
    results = f"{OUR}/reversal/result/"
    for trans_id in ("RKTQDM7W00", "RKTQDM7W6S", "RKTQDM7W6S"):
        assert caller.post(REVERSAL, caller.reversal(trans_id)).status_code == 200
    codes = [
        (r["Result"]["ResultCode"], r["Result"]["ResultDesc"]) for r in sent_to(sandbox, results)
    ]
    assert codes == [
        ("R000002", "The OriginalTransactionID is invalid."),
        (0, "The service request is processed successfully."),
        ("R000001", "The transaction has already been reversed."),
    ]
    assert daraja.transaction("RKTQDM7W6S")["status"] == "Reversed"


def test_a_reversal_by_a_wrong_initiator_of_another_shortcode_or_too_much(caller, daraja, sandbox):
    daraja.pay_bill("rent", 300, trans_id="RKTQDM7W6S")
    caller.post(REVERSAL, caller.reversal("RKTQDM7W6S", SecurityCredential="x"))
    caller.post(REVERSAL, caller.reversal("RKTQDM7W6S", ReceiverParty="174379"))
    codes = [r["Result"]["ResultCode"] for r in sent_to(sandbox, f"{OUR}/reversal/result/")]
    assert codes == [2001, "R000002"]
    too_much = caller.post(REVERSAL, caller.reversal("RKTQDM7W6S", Amount=301))
    assert refused(too_much, 400, "400.002.02", "Bad Request - Invalid Amount")
    cents = caller.post(REVERSAL, caller.reversal("RKTQDM7W6S", Amount="0.50"))
    assert refused(cents, 400, "400.002.02", "Bad Request - Invalid Amount")
    kind = caller.post(REVERSAL, caller.reversal("RKTQDM7W6S", RecieverIdentifierType="4"))
    assert refused(kind, 400, "400.002.02", "Bad Request - Invalid RecieverIdentifierType")
    assert daraja.transaction("RKTQDM7W6S")["status"] == "Completed"


def test_b2c_v1_names_the_request_itself(caller, daraja):
    """The older B2C path: no OriginatorConversationID in the request, Daraja makes one up."""
    body = caller.b2c()
    del body["OriginatorConversationID"]
    answer = caller.post("/mpesa/b2c/v1/paymentrequest", body).json()
    assert answer["ResponseCode"] == "0"
    assert daraja.b2c_result(answer["OriginatorConversationID"])["Result"]["ResultCode"] == 0
