"""The IntaSend adapter end to end against the sandbox's IntaSend, over HTTP through its real
client: initiate, approve (signed by our API device when we have one), status by tracking id, and
send-money events posted to our webhook at every status change, checked by their challenge.
MONEY-SAFETY P5 (a decided payout is never sent again), P6 (the sweep finishes what was left) and
P7 (a lost answer is settled by the same batch, never a second one)."""

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mpesa.models import ProviderCallback
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutResult, get_payout_provider
from payouts.providers.intasend import APPROVE, INITIATE, STATUS, IntasendProvider
from payouts.tasks import payout_send
from sandbox.intasend import FAILED_LATER, SHORT_OF_FLOAT
from tests.conftest import payout_sms
from tests.payouts.helpers import complete, sweep, use_provider

CALLBACK = "/api/callbacks/intasend/payout/"
CHALLENGE = "local-intasend-challenge"
EVERY_STATUS = ["Preview and approve", "Confirming balance", "Sending payment", "Completed"]


@pytest.fixture
def intasend(settings, sandbox):
    use_provider(settings, "intasend")
    return sandbox.intasend


def outcomes() -> list[str]:
    return list(
        ProviderCallback.objects.filter(kind="intasend_payout")
        .order_by("pk")
        .values_list("outcome", flat=True)
    )


def post_event(api, event: dict):
    return api.anonymous().raw_post(CALLBACK, json.dumps(event))


def event_for(intasend, payout: MobileMoneyPayout, **changes) -> dict:
    """The batch as IntaSend shows it now, as its event would carry it."""
    batch = intasend.status_of(payout.provider_request["tracking_id"])
    return {**batch, "challenge": CHALLENGE, **changes}


def test_a_payout_is_initiated_approved_and_completed_by_its_events(
    api, employer, employee, intasend, sms
):
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert intasend.sent(INITIATE) == [
        {
            "provider": "MPESA-B2C",
            "currency": "KES",
            "requires_approval": "YES",
            "transactions": [
                {
                    "name": "Kazi Trust worker",
                    "account": employee.phone_number.lstrip("+"),
                    "amount": 1500,
                    "narrative": payout.reference,
                }
            ],
        }
    ]
    tracking_id = payout.provider_request["tracking_id"]
    assert [a["tracking_id"] for a in intasend.sent(APPROVE)] == [tracking_id]
    assert intasend.sent(STATUS) == []  # the events told us everything
    (paid,) = intasend.status_of(tracking_id)["transactions"]
    assert payout.transaction_reference == paid["provider_reference"]  # the M-Pesa receipt
    events = intasend.events()
    assert [e["status"] for e in events] == EVERY_STATUS
    assert {e["challenge"] for e in events} == {CHALLENGE}
    assert outcomes() == [f"{payout.reference}: processing"] * 3 + [
        f"{payout.reference}: completed"
    ]
    assert len(payout_sms(sms)) == 1


@pytest.mark.parametrize("challenge", ["wrong", "", None], ids=["wrong", "empty", "missing"])
def test_an_event_without_our_challenge_changes_nothing(
    api, employer, employee, intasend, challenge
):
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    event = event_for(intasend, payout, challenge=challenge)
    if challenge is None:
        del event["challenge"]
    response = post_event(api, event)
    assert response.status_code == 401
    assert MobileMoneyPayout.objects.get().status == "processing"
    assert outcomes() == ["rejected: wrong challenge"]


def test_replayed_and_out_of_order_events_pay_once_and_never_reverse(
    api, employer, employee, intasend, sms
):
    intasend.faults.callback_copies = 2  # every event twice
    payout = complete(api, employer, employee)
    processing = event_for(intasend, payout, status="Sending payment", status_code="BP109")
    processing["transactions"][0].update(status="Processing", status_code="TP102")
    failed = event_for(intasend, payout)
    failed["transactions"][0].update(status="Failed", status_code="TF106")
    for event in (processing, failed, event_for(intasend, payout)):
        assert post_event(api, event).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == ("completed", "")
    assert len(intasend.sent(INITIATE)) == 1
    assert len(payout_sms(sms)) == 1
    assert len(intasend.events()) == 2 * len(EVERY_STATUS)
    assert len(outcomes()) == 2 * len(EVERY_STATUS) + 3


def test_an_event_about_a_batch_we_never_saved_is_recorded_and_ignored(
    api, employer, employee, intasend
):
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    stranger = event_for(intasend, payout, tracking_id="f89r8b57-f647-4960-933a-63874746005f")
    stranger["transactions"][0].update(status="Failed", status_code="TF106")
    response = post_event(api, stranger)
    assert response.status_code == 200
    assert MobileMoneyPayout.objects.get().status == "processing"
    assert outcomes()[-1].startswith("ignored: unknown tracking_id")


def test_an_unreadable_event_is_refused(api, intasend):
    response = post_event(api, {"challenge": CHALLENGE, "status": "Completed"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Rejected: tracking_id")
    assert outcomes()[-1].startswith('rejected: {"tracking_id"')


def test_a_lost_approval_is_settled_by_the_same_batch_never_another(
    api, settings, employer, employee, intasend, django_capture_on_commit_callbacks
):
    """P7: IntaSend approved the batch and the answer was lost. The retry asks about that
    batch (it is on its way) and the sweep finds it paid; nothing is initiated twice."""
    intasend.faults.lose_approvals = 1
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert (payout.status, payout.attempts) == ("processing", 2)
    tracking_id = payout.provider_request["tracking_id"]
    assert [s["tracking_id"] for s in intasend.sent(STATUS)] == [tracking_id]
    sweep(settings, django_capture_on_commit_callbacks)
    payout.refresh_from_db()
    assert payout.status == "completed"
    assert len(intasend.sent(INITIATE)) == 1
    assert [a["tracking_id"] for a in intasend.sent(APPROVE)] == [tracking_id]


def test_a_lost_initiate_answer_moves_no_money(
    api, employer, employee, intasend, django_capture_on_commit_callbacks
):
    """The batch whose initiate answer was lost was never approved: it can never pay. The
    retry starts the one that does."""
    intasend.faults.lose_answers = 1
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    initiated = intasend.sent(INITIATE)
    assert len(initiated) == 2
    assert len(intasend.sent(APPROVE)) == 1
    assert intasend.balance() == 10_000_000 - 1500 - 50  # one transfer and its charge


def killed_before_approving(api, employer, employee, monkeypatch) -> MobileMoneyPayout:
    """The worker dies between initiate and approve: a batch saved, waiting for approval."""
    post = IntasendProvider._post

    def die_before_approving(self, path: str, payload: dict) -> dict:
        if path == APPROVE:
            raise SystemExit("worker killed")
        return post(self, path, payload)

    with monkeypatch.context() as patched:
        patched.setattr(IntasendProvider, "_post", die_before_approving)
        with pytest.raises(SystemExit):
            complete(api, employer, employee)
    return MobileMoneyPayout.objects.get()


def test_an_unapproved_batch_is_approved_never_initiated_again(
    api, employer, employee, intasend, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """P6 and P7: the sweep finds the saved batch waiting, approves that one, and it pays."""
    intasend.faults.hold_callbacks = True
    payout = killed_before_approving(api, employer, employee, monkeypatch)
    assert (payout.status, intasend.sent(APPROVE)) == ("pending", [])
    sweep(settings, django_capture_on_commit_callbacks)  # sends: the batch waits; approve it
    assert MobileMoneyPayout.objects.get().status == "processing"
    sweep(settings, django_capture_on_commit_callbacks)  # checks: the batch has completed
    payout.refresh_from_db()
    assert payout.status == "completed"
    assert len(intasend.sent(INITIATE)) == 1
    assert [a["tracking_id"] for a in intasend.sent(APPROVE)] == [
        payout.provider_request["tracking_id"]
    ]


def test_a_refused_status_query_decides_nothing(
    api, settings, employer, employee, intasend, monkeypatch, django_capture_on_commit_callbacks
):
    """A rotated key makes IntaSend refuse the status query of a saved batch: it may have been
    approved, so the payout stays unsettled rather than failing (and being retried)."""
    killed_before_approving(api, employer, employee, monkeypatch)
    settings.INTASEND_SECRET_KEY = "rotated"
    get_payout_provider.cache_clear()
    sweep(settings, django_capture_on_commit_callbacks)
    payout = MobileMoneyPayout.objects.get()
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intasend.sent(APPROVE) == []


def test_without_events_the_sweep_asks_for_the_status(
    api, settings, employer, employee, intasend, django_capture_on_commit_callbacks
):
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    sweep(settings, django_capture_on_commit_callbacks)
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(intasend.sent(INITIATE)) == 1


def test_a_refused_payout_fails_with_intasends_reason_and_is_not_sent_again(
    api, settings, employer, employee, intasend, django_capture_on_commit_callbacks
):
    """P5: a decided outcome stays; neither the sweep nor the task sends it again."""
    intasend.faults.reject = 1
    payout = complete(api, employer, employee)
    assert payout.status == "failed"
    assert payout.failure_reason == "Insufficient balance to complete this request"
    sweep(settings, django_capture_on_commit_callbacks)
    payout_send(payout.pk)
    assert len(intasend.sent(INITIATE)) == 1
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_the_older_pages_refusal_shape_is_read_too(api, employer, employee, intasend):
    intasend.faults.reject = 1
    intasend.faults.legacy_errors = True  # {"details": ...}, as the send-money page shows
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == (
        "failed",
        "Insufficient balance to complete this request",
    )


def test_a_failure_reported_later_is_recorded_with_mpesas_reason(api, employer, employee, intasend):
    intasend.faults.fail_later = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", FAILED_LATER)
    assert intasend.balance() == 10_000_000  # IntaSend gave the amount and charge back


def test_a_wallet_short_of_float_fails_the_batch_and_the_payout(api, employer, employee, intasend):
    intasend._wallet_control({"balance": 1000})
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", SHORT_OF_FLOAT)
    assert [e["status"] for e in intasend.events()] == [
        "Preview and approve",
        "Confirming balance",
        "Failed Processing",
    ]


def test_events_and_answers_with_status_words_only_settle_it_the_same(
    api, employer, employee, intasend
):
    intasend.faults.status_codes = False  # as some of IntaSend's pages show them
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert all("status_code" not in e for e in intasend.events())


@pytest.mark.parametrize("status", [401, 403], ids=["401-as-the-table", "403-as-the-example"])
def test_a_wrong_secret_key_sends_nothing_and_decides_nothing(
    api, employer, employee, intasend, settings, status
):
    """A rotated key is our configuration, not IntaSend's verdict on the payout: it waits,
    unsent, for the retries and the sweep once the key is right, whichever status IntaSend
    refuses it with (its errors page shows a 403, its table a 401)."""
    intasend.faults.auth_status = status
    settings.INTASEND_SECRET_KEY = "wrong"
    get_payout_provider.cache_clear()
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intasend.sent(INITIATE) == []
    refused = intasend.sandbox.requests_seen("intasend")[-1]
    assert (refused["status"], refused["error_code"]) == (status, "authentication_failed")


def test_an_amount_with_cents_is_refused_before_anything_is_sent(db, intasend):
    # Budgets are whole shillings; this guards the provider against anything that slips past.
    result = get_payout_provider().send(
        reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal("1500.50")
    )
    assert result == PayoutResult(
        "failed", "", "M-Pesa pays whole shillings only; KES 1500.50 has cents"
    )
    assert intasend.sent(INITIATE) == []


# --- an API device signing the approvals ------------------------------------------------------


@pytest.fixture(scope="module")
def device_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def with_device(settings, intasend, device_keys):
    """Device 7 on IntaSend's dashboard (its public key) and in our settings (its private key)."""
    private, public = device_keys
    settings.INTASEND_DEVICE_ID = "7"
    settings.INTASEND_DEVICE_PRIVATE_KEY = private
    get_payout_provider.cache_clear()
    intasend._device_control({"device_id": 7, "public_key": public})
    return intasend


def test_with_an_api_device_the_approval_is_signed_and_the_payout_completes(
    api, employer, employee, with_device
):
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    (initiated,) = with_device.sent(INITIATE)
    assert initiated["device_id"] == 7
    (approval,) = with_device.sent(APPROVE)
    assert approval["nonce"] != payout.provider_request["nonce"]  # signed, not the nonce itself


def test_a_device_whose_key_intasend_does_not_have_cannot_approve(
    api, employer, employee, with_device
):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with_device._device_control({"device_id": 7, "public_key": pem})  # replaced on the dashboard
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == (
        "failed",
        "nonce: Nonce signature verification failed.",
    )
    tracking_id = payout.provider_request["tracking_id"]
    assert with_device.status_of(tracking_id)["status"] == "Preview and approve"  # nothing moved


def test_without_our_device_intasend_refuses_the_initiate(
    api, employer, employee, intasend, device_keys
):
    # A device is registered on the dashboard, so approvals must be signed; we have none.
    intasend._device_control({"device_id": 9, "public_key": device_keys[1]})
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == (
        "failed",
        "device_id: This field is required.",
    )


@pytest.mark.parametrize(
    ("provider", "missing"),
    [("intasend", "INTASEND_API_URL must be set"), ("local", None)],
)
def test_production_requires_intasends_settings_only_when_it_is_chosen(provider, missing):
    production = dict.fromkeys(
        [
            "DJANGO_SECRET_KEY",
            "STELLAR_CONTRACT_SERVICE_URL",
            "STELLAR_CONTRACT_API_KEY",
            "STELLAR_PAYOUT_ACCOUNT",
            "MPESA_SHORTCODE",
            "MPESA_CONSUMER_KEY",
            "MPESA_CONSUMER_SECRET",
            "MPESA_PASSKEY",
            "MPESA_INITIATOR_NAME",
            "MPESA_SECURITY_CREDENTIAL",
            "MPESA_CALLBACK_BASE_URL",
        ],
        "x",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTASEND_", "KAZI_"))}
    env.update(
        production,
        KAZI_ENV="production",
        PAYOUT_PROVIDER=provider,
        DATABASE_URL="postgres://kazi:secret@db:5432/kazi",
        REDIS_URL="redis://redis:6379/0",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import kazi.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if missing:
        assert result.returncode != 0
        assert missing in result.stderr
    else:
        assert result.returncode == 0, result.stderr
