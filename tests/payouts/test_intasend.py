"""The IntaSend adapter end to end against the local IntaSend: initiate, approve, status by
tracking id, and send-money events checked by their challenge."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest

from payments.models import MobileMoneyPayout, ProviderCallback
from payments.providers import PayoutResult, get_local_intasend, get_payout_provider
from payments.providers.intasend import APPROVE, IntasendProvider
from payments.tasks import payout_sweep
from tests.conftest import payout_sms
from tests.payouts.helpers import complete, use_provider

CALLBACK = "/api/callbacks/intasend/payout/"
CHALLENGE = "local-intasend-challenge"


@pytest.fixture
def intasend(settings):
    yield from use_provider(settings, "intasend", get_local_intasend)


def recorded() -> str:
    return ProviderCallback.objects.get(kind="intasend_payout").outcome


def post_event(api, event: dict):
    return api.anonymous().raw_post(CALLBACK, json.dumps(event))


def event_for(intasend, payout: MobileMoneyPayout, **changes) -> dict:
    return {**json.loads(intasend.event(payout.provider_request["tracking_id"])), **changes}


def test_a_payout_is_initiated_approved_and_completed_by_the_event(
    api, employer, employee, intasend, sms
):
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert intasend.sends == [
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
    assert intasend.approvals == [payout.provider_request["tracking_id"]]
    assert payout.transaction_reference.startswith("T")  # the M-Pesa receipt
    assert recorded() == f"{payout.reference}: completed"
    body = ProviderCallback.objects.get(kind="intasend_payout").body
    assert json.loads(body)["challenge"] == CHALLENGE


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
    assert (
        ProviderCallback.objects.get(kind="intasend_payout").outcome == "rejected: wrong challenge"
    )


def test_replayed_and_out_of_order_events_pay_once_and_never_reverse(
    api, employer, employee, intasend, sms
):
    intasend.faults.duplicate_callbacks = True
    payout = complete(api, employer, employee)
    processing = event_for(intasend, payout, status="Sending payment", status_code="BP109")
    processing["transactions"][0].update(status="Processing", status_code="TP102")
    failed = event_for(intasend, payout)
    failed["transactions"][0].update(status="Failed", status_code="TF106")
    for event in (processing, failed, event_for(intasend, payout)):
        assert post_event(api, event).status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == ("completed", "")
    assert len(intasend.sends) == 1
    assert len(payout_sms(sms)) == 1
    assert ProviderCallback.objects.filter(kind="intasend_payout").count() == 5


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
    assert ProviderCallback.objects.get(kind="intasend_payout").outcome.startswith(
        "ignored: unknown tracking_id"
    )


def test_an_unreadable_event_is_refused(api, intasend):
    response = post_event(api, {"challenge": CHALLENGE, "status": "Completed"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Rejected: tracking_id")
    assert recorded().startswith('rejected: {"tracking_id"')


def test_a_lost_approval_is_resolved_by_the_status_of_the_same_batch(
    api, employer, employee, intasend
):
    intasend.faults.lose_answer = 1
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert payout.attempts == 2
    assert len(intasend.sends) == 1
    assert intasend.approvals == [payout.provider_request["tracking_id"]]


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
    api, employer, employee, intasend, settings, monkeypatch
):
    intasend.faults.hold_callbacks = True
    payout = killed_before_approving(api, employer, employee, monkeypatch)
    assert (payout.status, intasend.approvals) == ("pending", [])
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()  # sends: finds the saved batch waiting and approves it
    assert MobileMoneyPayout.objects.get().status == "processing"
    payout_sweep()  # checks: the batch has completed
    payout.refresh_from_db()
    assert payout.status == "completed"
    assert len(intasend.sends) == 1
    assert intasend.approvals == [payout.provider_request["tracking_id"]]


def test_a_refused_status_query_decides_nothing(
    api, settings, employer, employee, intasend, monkeypatch
):
    """A rotated key makes IntaSend refuse the status query of a saved batch: it may have been
    approved, so the payout stays unsettled rather than failing (and being retried)."""
    killed_before_approving(api, employer, employee, monkeypatch)
    settings.INTASEND_SECRET_KEY = "rotated"
    get_payout_provider.cache_clear()
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()
    payout = MobileMoneyPayout.objects.get()
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intasend.approvals == []


def test_without_an_event_the_sweep_asks_for_the_status(
    api, settings, employer, employee, intasend
):
    intasend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(intasend.sends) == 1


def test_a_refused_payout_fails_with_intasends_reason_and_is_not_sent_again(
    api, settings, employer, employee, intasend
):
    intasend.faults.reject = 1
    payout = complete(api, employer, employee)
    assert payout.status == "failed"
    assert payout.failure_reason == "Insufficient balance to complete this request"
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()
    from payments.tasks import payout_send

    payout_send(payout.pk)
    assert len(intasend.sends) == 1
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_a_failure_reported_later_is_recorded_with_its_reason(api, employer, employee, intasend):
    intasend.faults.fail_later = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", "Recipient account limit reached")


def test_a_wrong_secret_key_sends_nothing_and_decides_nothing(
    api, employer, employee, intasend, settings
):
    """A rotated key is our configuration, not IntaSend's verdict on the payout: it waits, unsent,
    for the retries and the sweep once the key is right."""
    settings.INTASEND_SECRET_KEY = "wrong"
    get_payout_provider.cache_clear()
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intasend.sends == []


def test_an_amount_with_cents_is_refused_before_anything_is_sent(db, intasend):
    # Budgets are whole shillings; this guards the provider against anything that slips past.
    result = get_payout_provider().send(
        reference="PAYOUT_7KQ2M9XD", msisdn="254712345678", amount=Decimal("1500.50")
    )
    assert result == PayoutResult(
        "failed", "", "M-Pesa pays whole shillings only; KES 1500.50 has cents"
    )
    assert intasend.sends == []


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
