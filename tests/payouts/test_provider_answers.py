"""The payout providers' documented answers, through our clients and callbacks: M-Pesa B2C
results matched by the ids Daraja gave the request (never by what ReferenceData echoes),
IntaSend batches approved with a signed nonce whatever their first status says, and busy
providers retried later, never failed. The providers are answered by respx over HTTP."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import celery.app.task
import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.exceptions import ImproperlyConfigured

from mpesa.daraja.callback_urls import callback_url
from mpesa.models import ProviderCallback
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutUnavailable
from payouts.providers.intasend import APPROVE, INITIATE, STATUS, IntasendProvider, outcome
from payouts.providers.intersend import IntersendProvider
from payouts.providers.mpesa_b2c import MpesaB2CProvider
from payouts.providers.records import PayoutRequestRecords
from payouts.tasks import payout_sweep
from tests.conftest import payout_sms
from tests.payouts.helpers import complete
from tests.rails import (
    B2C,
    DARAJA,
    OAUTH,
    PUBLIC,
    TRANSACTION_STATUS,
    daraja_client,
    daraja_error,
    posted,
    sample,
    token,
)

INTASEND = "https://sandbox.intasend.com"
INTERSEND = "https://api.intersend.example"


@pytest.fixture
def http():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def use(monkeypatch, provider: object) -> None:
    """`provider` is the one payouts are sent with."""
    monkeypatch.setattr("payouts.services.get_payout_provider", lambda: provider)


def recorded(kind: str) -> str:
    return ProviderCallback.objects.filter(kind=kind).order_by("-pk").first().outcome


def sweep(settings) -> None:
    """The every-minute sweep, with everything in flight due to be asked about."""
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()


# --- M-Pesa B2C -------------------------------------------------------------------------------


@pytest.fixture
def b2c(settings, monkeypatch, http):
    """The B2C adapter on a Daraja that accepts each payment, echoing our
    OriginatorConversationID, with the ConversationID `b2c.conversation_id`."""
    settings.MPESA_CALLBACK_BASE_URL = PUBLIC
    use(
        monkeypatch,
        MpesaB2CProvider(
            daraja_client(),
            result_url=callback_url("mpesa-b2c-result"),
            timeout_url=callback_url("mpesa-b2c-timeout"),
            status_url=callback_url("mpesa-b2c-status"),
        ),
    )
    http.get(DARAJA + OAUTH).mock(return_value=token("t"))
    daraja = SimpleNamespace(conversation_id=sample("daraja/b2c_answer")["ConversationID"])

    def accept(request: httpx.Request) -> httpx.Response:
        answer = {
            **sample("daraja/b2c_answer"),
            "OriginatorConversationID": posted(request)["OriginatorConversationID"],
            "ConversationID": daraja.conversation_id,
        }
        return httpx.Response(200, json=answer)

    daraja.requests = http.post(DARAJA + B2C).mock(side_effect=accept)
    daraja.queries = http.post(DARAJA + TRANSACTION_STATUS).respond(
        json=sample("daraja/transaction_status_answer")
    )
    return daraja


def test_the_ids_daraja_gave_a_payment_are_kept_and_its_urls_are_clean(
    api, employer, employee, b2c
):
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    assert payout.provider_request == {
        "OriginatorConversationID": payout.reference,
        "ConversationID": "AG_20240706_20106e9209f64bebd05b",
    }
    sent = posted(b2c.requests.calls.last.request)
    assert (sent["ResultURL"], sent["QueueTimeOutURL"]) == (
        f"{PUBLIC}/api/callbacks/b2c/result/",
        f"{PUBLIC}/api/callbacks/b2c/timeout/",
    )


def test_a_lost_result_is_settled_by_safaricoms_transaction_status_sample(
    api, settings, employer, employee, b2c, sms
):
    """The documented result names the payment only in its ResultParameters (its own ids are
    the query's) and has an Occasion without Value: it is matched by the ConversationID
    Daraja gave the payment."""
    status = sample("daraja/transaction_status_result")
    b2c.conversation_id = "AG_20180223_000041b09c22e613d6c9"  # the sample's original payment
    payout = complete(api, employer, employee)  # and its result never arrives
    sweep(settings)
    query = posted(b2c.queries.calls.last.request)
    assert (query["OriginalConversationID"], query["ResultURL"]) == (
        payout.reference,
        f"{PUBLIC}/api/callbacks/b2c/status/",
    )
    response = api.anonymous().post("/api/callbacks/b2c/status/", status)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_reference) == ("completed", "MBN31H462N")
    assert recorded("mpesa_b2c") == f"{payout.reference}: completed"
    assert b2c.requests.call_count == 1
    assert payout_sms(sms) == [
        "Kazi Trust: KES 1,500.00 for your work has been sent to your M-Pesa (MBN31H462N)."
    ]


def test_a_status_result_is_matched_by_our_reference_or_the_receipt_too(
    api, employer, employee, b2c
):
    status = sample("daraja/transaction_status_result")
    payout = complete(api, employer, employee)
    parameters = status["Result"]["ResultParameters"]["ResultParameter"]
    for pair in parameters:
        if pair["Key"] == "OriginatorConversationID":
            pair["Value"] = payout.reference  # Daraja kept the one we sent
    assert api.anonymous().post("/api/callbacks/b2c/status/", status).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_reference) == ("completed", "MBN31H462N")

    for pair in parameters:  # the same answer again, naming it only by its receipt
        if pair["Key"] in {"OriginatorConversationID", "ConversationID"}:
            pair["Value"] = "unknown"
    assert api.anonymous().post("/api/callbacks/b2c/status/", status).status_code == 200
    assert recorded("mpesa_b2c") == f"{payout.reference}: completed"


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("b2c_result_success", "completed", "SG632NMUAB"),
        ("b2c_result_failure", "failed", "2001: The initiator information is invalid."),
    ],
)
def test_safaricoms_result_samples_settle_the_payout_daraja_accepted(
    api, employer, employee, b2c, name, status, detail
):
    result = sample(f"daraja/{name}")
    b2c.conversation_id = result["Result"]["ConversationID"]
    payout = complete(api, employer, employee)
    response = api.anonymous().post("/api/callbacks/b2c/result/", result)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    payout.refresh_from_db()
    assert payout.status == status
    assert detail in (payout.transaction_reference, payout.failure_reason)


def test_a_result_about_no_payout_of_ours_is_kept_and_acknowledged(api, employer, employee, b2c):
    payout = complete(api, employer, employee)  # accepted as AG_20240706_20106e9209f64bebd05b
    result = sample("daraja/b2c_result_success")  # about AG_20240706_2010364430d9bbdaf872
    response = api.anonymous().post("/api/callbacks/b2c/result/", result)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert recorded("mpesa_b2c") == (
        "unmatched: names no payout of ours (53e3-4aa8-9fe0-8fb5e4092cdd3533373, "
        "AG_20240706_2010364430d9bbdaf872, SG632NMUAB)"
    )
    assert MobileMoneyPayout.objects.get(pk=payout.pk).status == "processing"


def test_a_queue_timeout_is_recorded_against_the_payout_and_changes_nothing(
    api, employer, employee, b2c
):
    timeout = sample("daraja/b2c_result_failure")  # Safaricom documents no timeout body
    b2c.conversation_id = timeout["Result"]["ConversationID"]
    payout = complete(api, employer, employee)
    assert api.anonymous().post("/api/callbacks/b2c/timeout/", timeout).status_code == 200
    assert recorded("mpesa_b2c") == f"timeout for {payout.reference}: left for the status query"
    assert MobileMoneyPayout.objects.get().status == "processing"


def test_a_payment_daraja_refuses_outright_fails_with_its_error(api, employer, employee, b2c):
    b2c.requests.mock(
        side_effect=None,
        return_value=daraja_error(400, "400.002.02", "Bad Request - Invalid PartyB"),
    )
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == (
        "failed",
        "400.002.02: Bad Request - Invalid PartyB",
    )


# --- IntaSend ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def device_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def intasend(monkeypatch, http, device_key):
    """The IntaSend adapter with an API device, on an IntaSend answering with its documented
    initiate answer, then the batch in progress, then paid."""
    pem = device_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    use(
        monkeypatch,
        IntasendProvider(
            INTASEND,
            "ISSecretKey_test_1",
            PayoutRequestRecords(),
            device_id="1",
            device_private_key=pem,
        ),
    )
    return SimpleNamespace(
        initiate=http.post(INTASEND + INITIATE).respond(json=sample("intasend/initiate_answer")),
        approve=http.post(INTASEND + APPROVE).mock(
            side_effect=lambda request: httpx.Response(200, json=in_progress())
        ),
        status=http.post(INTASEND + STATUS).mock(
            side_effect=lambda request: httpx.Response(200, json=paid())
        ),
    )


def in_progress() -> dict:
    """The documented status answer of the documented batch: sending, not finished."""
    tracking_id = sample("intasend/initiate_answer")["tracking_id"]
    return {**sample("intasend/status_answer"), "tracking_id": tracking_id}


def paid() -> dict:
    """The same answer once IntaSend has paid (its pages show no finished batch)."""
    batch = in_progress()
    item = {**batch["transactions"][1], "status": "Successful", "status_code": "TS100"}
    return {**batch, "status": "Completed", "status_code": "BC100", "transactions": [item]}


def signature_valid(device_key: rsa.RSAPrivateKey, signed_hex: str, nonce: str) -> bool:
    try:
        device_key.public_key().verify(
            bytes.fromhex(signed_hex), nonce.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:
        return False
    return True


@pytest.mark.parametrize("answer", ["initiate_answer", "initiate_answer_without_code"])
def test_a_documented_initiate_answer_is_approved_with_the_signed_nonce_then_paid(
    api, settings, employer, employee, intasend, device_key, answer
):
    intasend.initiate.respond(json=sample(f"intasend/{answer}"))
    payout = complete(api, employer, employee)
    initiated = posted(intasend.initiate.calls.last.request)
    assert (initiated["device_id"], initiated["requires_approval"]) == (1, "YES")
    assert payout.provider_request == {
        "tracking_id": "c1acf08c-5cc1-4b3e-b4a8-e43bc068aa56",
        "nonce": "1aiw02",
    }
    approval = posted(intasend.approve.calls.last.request)
    assert {**approval, "nonce": "1aiw02"} == sample(f"intasend/{answer}")
    assert approval["nonce"] != "1aiw02"
    assert signature_valid(device_key, approval["nonce"], "1aiw02")
    assert payout.status == "processing"

    sweep(settings)
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_reference) == ("completed", "OFQ31HC99P")
    assert (intasend.initiate.call_count, intasend.approve.call_count) == (1, 1)


@pytest.mark.parametrize(
    "waiting",
    [
        sample("intasend/initiate_answer"),  # BP101, "Preview and approve"
        sample("intasend/initiate_answer_without_code"),  # the words only
        {**sample("intasend/initiate_answer"), "status": "Pending", "status_code": "BP103"},
    ],
    ids=["BP101", "words", "BP103"],
)
def test_a_batch_still_waiting_for_approval_is_approved_never_initiated_again(
    api, employer, employee, intasend, device_key, waiting
):
    intasend.approve.mock(
        side_effect=[httpx.ConnectTimeout("lost"), httpx.Response(200, json=in_progress())]
    )
    intasend.status.mock(side_effect=None, return_value=httpx.Response(200, json=waiting))
    payout = complete(api, employer, employee)  # the approval's answer is lost; the retry asks
    assert payout.status == "processing"
    assert intasend.initiate.call_count == 1
    approvals = [posted(call.request) for call in intasend.approve.calls]
    assert [a["tracking_id"] for a in approvals] == [waiting["tracking_id"]] * 2
    assert all(signature_valid(device_key, a["nonce"], "1aiw02") for a in approvals)


def test_the_documented_refusal_fails_the_payout_with_its_details(
    api, employer, employee, intasend
):
    intasend.initiate.respond(400, json=sample("intasend/initiate_refused"))
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", "Device id not found")
    assert intasend.approve.call_count == 0


def test_the_documented_status_answers_and_event_are_read_whatever_their_codes(
    api, settings, employer, employee, intasend
):
    assert outcome(sample("intasend/status_answer")).outcome == "accepted"  # first is Pending
    unpaid = sample("intasend/status_answer")
    unpaid["transactions"].reverse()  # the Unsuccessful one first
    result = outcome(unpaid)
    assert (result.outcome, result.transaction_reference, result.reason) == (
        "failed",
        "OFQ31HC99P",
        "Unsuccessful",
    )

    settings.INTASEND_WEBHOOK_CHALLENGE = "testnet"
    payout = complete(api, employer, employee)
    event = sample("intasend/send_money_event")  # "Preview and approve", no status_code
    url = "/api/callbacks/intasend/payout/"
    assert api.anonymous().post(url, event).json() == {"received": True}
    assert recorded("intasend_payout") == f"ignored: unknown tracking_id {event['tracking_id']}"
    event["tracking_id"] = payout.provider_request["tracking_id"]
    assert api.anonymous().post(url, event).status_code == 200
    assert recorded("intasend_payout") == f"{payout.reference}: processing"


def test_the_current_pages_completed_event_pays_the_payout(api, employer, employee, intasend):
    event = sample("intasend/send_money_event_completed")  # every field, no challenge shown
    result = outcome(event)
    assert (result.outcome, result.transaction_reference) == ("completed", "TJRHC8IET4")
    payout = complete(api, employer, employee)
    event.update(tracking_id=payout.provider_request["tracking_id"], challenge="x")
    url = "/api/callbacks/intasend/payout/"
    assert api.anonymous().post(url, event).status_code == 401  # not our challenge
    event["challenge"] = "local-intasend-challenge"
    assert api.anonymous().post(url, event).json() == {"received": True}
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_reference) == ("completed", "TJRHC8IET4")


@pytest.mark.parametrize("status", [401, 403])
def test_the_documented_authentication_refusal_is_never_a_verdict(db, http, status):
    """The errors page's example is a 403 `authentication_failed`; its table says 401."""
    provider, route = intasend_send(http)
    route.respond(status, json=sample("intasend/error_authentication"))
    with pytest.raises(PayoutUnavailable, match=f"HTTP {status}"):
        provider.send(reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal(1500))


def test_a_refusal_in_the_current_shape_names_each_problem(db, http):
    provider, route = intasend_send(http)
    route.respond(
        400,
        json={
            "type": "client_error",
            "errors": [
                {"code": "invalid", "detail": "Enter a valid URL.", "attr": "callback_url"},
                {"code": "invalid", "detail": "Insufficient balance", "attr": None},
            ],
        },
    )
    result = provider.send(reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal(1500))
    assert (result.outcome, result.reason) == (
        "failed",
        "callback_url: Enter a valid URL.; Insufficient balance",
    )


def test_a_device_key_that_is_not_a_private_key_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="not an unencrypted PEM private key"):
        IntasendProvider(
            INTASEND, "k", PayoutRequestRecords(), device_id="1", device_private_key="x"
        )
    with pytest.raises(ImproperlyConfigured, match="set together"):
        IntasendProvider(INTASEND, "k", PayoutRequestRecords(), device_id="1")


# --- busy providers: a temporary no is never a failure ----------------------------------------


def b2c_send(http):
    http.get(DARAJA + OAUTH).mock(return_value=token("t"))
    provider = MpesaB2CProvider(daraja_client(), result_url="", timeout_url="", status_url="")
    return provider, http.post(DARAJA + B2C)


def intasend_send(http):
    provider = IntasendProvider(INTASEND, "k", PayoutRequestRecords())
    return provider, http.post(INTASEND + INITIATE)


def intersend_send(http):
    provider = IntersendProvider(INTERSEND, "key", "secret")
    return provider, http.post(INTERSEND + "/payouts/send")


SENDERS = {"mpesa_b2c": b2c_send, "intasend": intasend_send, "intersend": intersend_send}
TEMPORARY = {
    "429": httpx.Response(429, headers={"Retry-After": "30"}, json={"detail": "Slow down"}),
    "503": httpx.Response(503, text="Service Unavailable"),
    "500": httpx.Response(500, json=sample("daraja/b2c_error")),
    "timeout": httpx.ReadTimeout("no answer"),
}


@pytest.mark.parametrize("answer", list(TEMPORARY))
@pytest.mark.parametrize("name", list(SENDERS))
def test_a_busy_provider_is_asked_again_later_never_failed(db, http, name, answer):
    provider, route = SENDERS[name](http)
    route.mock(side_effect=[TEMPORARY[answer]])
    with pytest.raises(PayoutUnavailable) as busy:
        provider.send(reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal(1500))
    assert busy.value.retry_after == (30 if answer == "429" else None)


@pytest.mark.parametrize("name", ["intasend", "intersend"])
def test_a_key_the_provider_no_longer_takes_is_not_a_verdict(db, http, name):
    provider, route = SENDERS[name](http)
    route.respond(401, json={"detail": "Invalid token."})
    with pytest.raises(PayoutUnavailable, match="HTTP 401"):
        provider.send(reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal(1500))


def test_a_429_is_retried_no_sooner_than_retry_after_then_paid(
    api, employer, employee, intasend, monkeypatch
):
    countdowns = []
    retry = celery.app.task.Task.retry

    def spy(task, *args, **kwargs):
        countdowns.append(kwargs.get("countdown", args[5] if len(args) > 5 else None))
        return retry(task, *args, **kwargs)

    monkeypatch.setattr(celery.app.task.Task, "retry", spy)
    intasend.initiate.mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "30"}),
            httpx.Response(200, json=sample("intasend/initiate_answer")),
        ]
    )
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    assert len(countdowns) == 1
    assert countdowns[0] >= 30
    assert (intasend.initiate.call_count, intasend.approve.call_count) == (2, 1)
