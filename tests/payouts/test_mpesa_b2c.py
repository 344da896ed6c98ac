"""The M-Pesa B2C adapter end to end against the sandbox's Daraja, over HTTP: the B2C Payment
Request v3, its result and queue-timeout callbacks, and Transaction Status for unknown
outcomes."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse, reverse_lazy

from mpesa.models import ProviderCallback
from payouts.models import MobileMoneyPayout
from payouts.providers import get_payout_provider
from payouts.tasks import payout_send, payout_sweep
from tests.conftest import payout_sms
from tests.payouts.helpers import complete

B2C = "/mpesa/b2c/v3/paymentrequest"
STATUS = "/mpesa/transactionstatus/v1/query"
RESULT = reverse_lazy("mpesa-b2c-result")
HOST = "http://127.0.0.1:8000"  # MPESA_CALLBACK_BASE_URL


@pytest.fixture
def b2c(settings, daraja):
    settings.PAYOUT_PROVIDER = "mpesa_b2c"
    get_payout_provider.cache_clear()
    return daraja


def sent(daraja, path: str = B2C) -> list[dict]:
    return [payload for at, payload in daraja.requests if at == path]


def recorded() -> list[str]:
    return list(
        ProviderCallback.objects.filter(kind="mpesa_b2c")
        .order_by("id")
        .values_list("outcome", flat=True)
    )


def test_a_payout_is_requested_in_darajas_format_and_completed_by_the_result(
    api, settings, employer, employee, b2c, sms
):
    payout = complete(api, employer, employee)
    assert sent(b2c) == [
        {
            "OriginatorConversationID": payout.reference,
            "InitiatorName": settings.MPESA_INITIATOR_NAME,
            "SecurityCredential": settings.MPESA_SECURITY_CREDENTIAL,
            "CommandID": "BusinessPayment",
            "Amount": "1500",
            "PartyA": settings.MPESA_B2C_SHORTCODE,
            "PartyB": employee.phone_number.lstrip("+"),
            "Remarks": f"Kazi Trust payout {payout.reference}",
            "QueueTimeOutURL": HOST + reverse("mpesa-b2c-timeout"),
            "ResultURL": HOST + reverse("mpesa-b2c-result"),
            "Occassion": payout.reference,
        }
    ]
    assert payout.status == "completed"
    assert (
        payout.transaction_reference == b2c.b2c_result(payout.reference)["Result"]["TransactionID"]
    )
    assert recorded() == [f"{payout.reference}: completed"]
    assert len(payout_sms(sms)) == 1


def test_results_from_a_disallowed_address_or_without_the_token_change_nothing(
    api, settings, employer, employee, b2c
):
    b2c.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    body = json.dumps(b2c.b2c_result(payout.reference))
    stranger = api.anonymous().raw_post(RESULT, body, REMOTE_ADDR="203.0.113.9")
    settings.MPESA_CALLBACK_TOKEN = "s3cret"
    tokenless = api.anonymous().raw_post(RESULT, body)
    assert (stranger.status_code, tokenless.status_code) == (403, 403)
    assert MobileMoneyPayout.objects.get().status == "processing"
    assert recorded() == [
        "rejected: source 203.0.113.9 not allowed",
        "rejected: wrong or missing URL token",
    ]
    assert api.anonymous().raw_post(RESULT + "?token=s3cret", body).status_code == 200
    assert MobileMoneyPayout.objects.get().status == "completed"


def test_replayed_and_out_of_order_results_pay_once_and_never_reverse(
    api, employer, employee, b2c, sms
):
    b2c.faults.callback_copies = 2
    payout = complete(api, employer, employee)
    refusal = b2c.b2c_result(payout.reference)
    refusal["Result"].update(ResultCode=2040, ResultDesc="Unregistered customer")
    assert api.anonymous().raw_post(RESULT, json.dumps(refusal)).status_code == 200
    in_flight = {  # a late status answer, naming the payment as Safaricom does
        "Result": {
            "ResultCode": 0,
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "TransactionStatus", "Value": "?"},
                    {"Key": "OriginatorConversationID", "Value": payout.reference},
                ]
            },
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}},
        }
    }
    response = api.anonymous().raw_post(reverse("mpesa-b2c-status"), json.dumps(in_flight))
    assert response.status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == ("completed", "")
    assert len(sent(b2c)) == 1
    assert len(payout_sms(sms)) == 1
    assert recorded() == [f"{payout.reference}: completed"] * 4


def test_a_result_for_an_unknown_payout_is_acknowledged_and_recorded(api, b2c):
    """Safaricom would resend a refused result: one that names no payout of ours is kept for
    an operator and acknowledged, and changes nothing."""
    result = {"Result": {"ResultCode": 0, "OriginatorConversationID": "PAYOUT_NOPE"}}
    response = api.anonymous().raw_post(RESULT, json.dumps(result))
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert recorded() == ["unmatched: names no payout of ours (PAYOUT_NOPE)"]


def test_a_lost_answer_is_resolved_by_transaction_status_with_one_payment_request(
    api, employer, employee, b2c
):
    b2c.faults.lose_answers = 1
    b2c.faults.hold_callbacks = True  # only the status query can tell
    payout = complete(api, employer, employee)
    assert len(sent(b2c)) == 1
    queries = sent(b2c, STATUS)
    assert [(q["OriginalConversationID"], q["TransactionID"]) for q in queries] == [
        (payout.reference, "")
    ]
    assert queries[0]["ResultURL"] == HOST + reverse("mpesa-b2c-status")
    assert (payout.status, payout.attempts) == ("completed", 2)
    assert (
        payout.transaction_reference == b2c.b2c_result(payout.reference)["Result"]["TransactionID"]
    )


def test_a_queue_timeout_changes_nothing_and_the_sweep_settles_it(
    api, settings, employer, employee, b2c, django_capture_on_commit_callbacks
):
    b2c.faults.b2c_queue_timeout = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    assert recorded() == [f"timeout for {payout.reference}: left for the status query"]
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    with django_capture_on_commit_callbacks(execute=True):  # the status answer calls back
        payout_sweep()
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(sent(b2c)) == 1
    assert [q["OriginalConversationID"] for q in sent(b2c, STATUS)] == [payout.reference]


def test_a_status_query_that_finds_nothing_leaves_the_payout_in_flight_unsent(
    api, employer, employee, b2c
):
    b2c.faults.fail_requests = 1  # the B2C request never reached M-Pesa
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    assert sent(b2c) == []
    # M-Pesa's answer names no transaction, so no payout: nothing is decided, nothing resent.
    assert recorded() == [
        "unmatched: names no payout of ours (no identifier) (M-Pesa found nothing: "
        "The OriginalTransactionID is invalid.)"
    ]


def test_a_refused_payout_fails_with_mpesas_reason_and_is_never_sent_again(
    api, settings, employer, employee, b2c
):
    b2c.faults.b2c_result_code = 2040
    payout = complete(api, employer, employee)
    assert payout.status == "failed"
    assert payout.failure_reason.startswith("2040: Credit Party customer type")
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()
    payout_send(payout.pk)
    assert len(sent(b2c)) == 1
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_a_wrong_initiator_credential_is_accepted_then_fails_by_the_result(
    api, settings, employer, employee, b2c
):
    """As M-Pesa does: the request is taken, the initiator is checked later, and the result
    says 2001. Nothing was paid (Transaction Status knows no such payment)."""
    settings.MPESA_SECURITY_CREDENTIAL = "not-the-initiators"
    get_payout_provider.cache_clear()
    from mpesa.daraja import get_daraja

    get_daraja.cache_clear()
    payout = complete(api, employer, employee)
    assert payout.status == "failed"
    assert payout.failure_reason == "2001: The initiator information is invalid."
    assert len(sent(b2c)) == 1
    assert b2c.transaction(b2c.b2c_result(payout.reference)["Result"]["TransactionID"]) is None


def test_daraja_refusing_a_request_outright_fails_the_payout_with_its_error(
    api, employer, employee, b2c
):
    b2c.faults.b2c_reject = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == (
        "failed",
        "400.002.02: Bad Request - Invalid PartyB",
    )


def test_b2c_sends_whole_shillings(api, employer, employee, b2c):
    payout = complete(api, employer, employee, budget="1500.00")
    assert [p["Amount"] for p in sent(b2c)] == ["1500"]
    assert payout.status == "completed"


def test_b2c_refuses_cents_before_sending(db, b2c):
    # Budgets are whole shillings; this guards the provider against anything that slips past.
    result = get_payout_provider().send(
        reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal("1500.50")
    )
    assert (result.outcome, result.reason) == (
        "failed",
        "M-Pesa pays whole shillings only; KES 1500.50 has cents",
    )
    assert sent(b2c) == []


def test_a_repeated_originator_conversation_id_is_refused_by_mpesa(api, employer, employee, b2c):
    """Should anything send twice under one reference, M-Pesa pays once; the refusal of the
    copy is not a verdict on the payment, so it leaves the outcome to the status query."""
    from payouts.providers import PayoutUnavailable

    payout = complete(api, employer, employee)
    with pytest.raises(PayoutUnavailable, match="HTTP 500"):
        get_payout_provider().send(
            reference=payout.reference, msisdn=employee.phone_number[1:], amount=payout.amount
        )
    assert b2c.b2c_count() == 1
    assert MobileMoneyPayout.objects.get().status == "completed"


def test_a_late_result_still_settles_the_payout(
    api, employer, employee, b2c, django_capture_on_commit_callbacks
):
    b2c.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    with django_capture_on_commit_callbacks(execute=True):
        assert b2c.release_held() == 1
    assert MobileMoneyPayout.objects.get().status == "completed"
