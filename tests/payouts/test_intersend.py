"""The Intersend adapter end to end against the sandbox's Intersend (the seed's API under
/intersend), over HTTP through its real client: the sandbox checks our signatures and
timestamps, and signs its callbacks, which our callback checks before anything changes.
MONEY-SAFETY P5 (a decided payout is never sent again), P6 (the sweep finishes what was left) and
P7 (a lost answer is settled by asking, never by paying twice)."""

import json
import time
from decimal import Decimal

import pytest

from mpesa.models import ProviderCallback
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutResult, get_payout_provider
from payouts.providers.intersend import sign
from payouts.tasks import payout_send
from sandbox.intersend import FAILED_LATER
from tests.conftest import payout_sms
from tests.payouts.helpers import complete, sweep, use_provider
from tests.rails import sample

CALLBACK = "/api/callbacks/intersend/payout/"


@pytest.fixture
def intersend(settings, sandbox):
    use_provider(settings, "intersend")
    return sandbox.intersend


def outcomes() -> list[str]:
    return list(
        ProviderCallback.objects.filter(kind="intersend_payout")
        .order_by("pk")
        .values_list("outcome", flat=True)
    )


def signed(body: dict, secret: str = "local-intersend-secret", skew: int = 0) -> tuple[str, dict]:
    raw = json.dumps(body)
    stamp = str(int(time.time()) - skew)
    return raw, {"HTTP_X_TIMESTAMP": stamp, "HTTP_X_SIGNATURE": sign(secret, stamp, raw.encode())}


def post_news(api, raw: str, headers: dict):
    return api.anonymous().client.generic(
        "POST", CALLBACK, raw, content_type="application/json", **headers
    )


def test_a_payout_is_sent_in_the_documented_format_and_completed_by_its_callbacks(
    api, employer, employee, intersend, sms
):
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    documented = sample("intersend/send_request")  # the seed's request, with our values
    assert intersend.sends() == [
        {
            **documented,
            "phone_number": employee.phone_number.lstrip("+"),
            "amount": "1500.00",
            "reference": payout.reference,
        }
    ]
    assert list(intersend.sends()[0]) == list(documented)
    (paid,) = intersend.payouts()
    assert payout.transaction_reference == paid["transaction_id"]
    assert paid["transaction_id"].startswith("IS")
    assert [c["status"] for c in intersend.callbacks()] == ["processing", "completed"]
    assert outcomes() == [f"{payout.reference}: processing", f"{payout.reference}: completed"]
    assert [m for m, p, _ in intersend.requests if p != "/intersend/payouts/send"] == []
    assert len(payout_sms(sms)) == 1


@pytest.mark.parametrize(
    ("secret", "skew", "headers"),
    [("wrong-secret", 0, True), ("local-intersend-secret", 3600, True), (None, 0, False)],
    ids=["bad-signature", "stale", "unsigned"],
)
def test_unsigned_or_forged_news_changes_nothing(
    api, employer, employee, intersend, secret, skew, headers
):
    intersend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    news = {"reference": payout.reference, "status": "failed", "failure_reason": "forged"}
    raw, signature = signed(news, secret or "x", skew)
    response = post_news(api, raw, signature if headers else {})
    assert response.status_code == 401
    assert MobileMoneyPayout.objects.get().status == "processing"
    assert outcomes() == ["rejected: bad signature"]


def test_out_of_order_and_repeated_news_never_reverse_an_outcome(
    api, employer, employee, intersend
):
    intersend.faults.callback_copies = 2
    payout = complete(api, employer, employee)
    for status in ("processing", "failed", "completed"):
        raw, headers = signed({"reference": payout.reference, "status": status})
        assert post_news(api, raw, headers).status_code == 200
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(outcomes()) == 2 * 2 + 3


def test_news_about_an_unknown_payout_is_refused(api, intersend):
    raw, headers = signed({"reference": "PAYOUT_NOPE", "status": "completed"})
    assert post_news(api, raw, headers).status_code == 404


def test_without_a_callback_the_status_query_settles_it(
    api, settings, employer, employee, intersend, django_capture_on_commit_callbacks
):
    intersend.faults.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    sweep(settings, django_capture_on_commit_callbacks)
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(intersend.sends()) == 1


def test_a_lost_answer_is_settled_by_asking_never_by_paying_twice(
    api, employer, employee, intersend
):
    """P7: Intersend took the payout and the answer was lost; the retry asks first."""
    intersend.faults.lose_answers = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.attempts) == ("completed", 2)
    assert len(intersend.sends()) == 1
    assert [(m, p) for m, p, _ in intersend.requests] == [
        ("POST", "/intersend/payouts/send"),
        ("GET", f"/intersend/payouts/{payout.reference}"),
    ]
    assert len(intersend.payouts()) == 1


def test_a_resend_under_the_same_reference_pays_once(api, employer, employee, intersend):
    payout = complete(api, employer, employee)
    provider = get_payout_provider()
    again = provider.send(
        reference=payout.reference, msisdn=employee.phone_number.lstrip("+"), amount=payout.amount
    )
    assert again.transaction_reference == payout.transaction_reference
    assert len(intersend.payouts()) == 1


def test_a_refused_payout_fails_with_intersends_reason_and_is_not_sent_again(
    api, settings, employer, employee, intersend, django_capture_on_commit_callbacks
):
    """P5: a decided outcome stays; neither the sweep nor the task sends it again."""
    intersend.faults.reject = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", "insufficient float")
    sweep(settings, django_capture_on_commit_callbacks)
    payout_send(payout.pk)
    assert len(intersend.sends()) == 1
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_a_failure_reported_later_is_recorded_with_its_reason(api, employer, employee, intersend):
    intersend.faults.fail_later = 1
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("failed", FAILED_LATER)


def test_a_busy_intersend_is_asked_again_later(api, employer, employee, intersend):
    intersend.faults.rate_limit = 1  # 429 with Retry-After; the task retries
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert len(intersend.payouts()) == 1


def test_a_wrong_api_key_sends_nothing_and_decides_nothing(
    api, employer, employee, intersend, settings
):
    """A rotated key is our configuration, not Intersend's verdict on the payout: it waits,
    unsent, for the retries and the sweep once the key is right."""
    settings.INTERSEND_API_KEY = "wrong"
    get_payout_provider.cache_clear()
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intersend.sends() == []
    refused = intersend.sandbox.requests_seen("intersend")[-1]
    assert (refused["status"], refused["handled"]) == (401, False)


def test_an_amount_mobile_money_cannot_pay_is_refused_before_anything_is_sent(db, intersend):
    provider = get_payout_provider()
    cents = provider.send(reference="PAYOUT_A", msisdn="254712345678", amount=Decimal("1500.50"))
    assert cents == PayoutResult(
        "failed", "", "M-Pesa pays whole shillings only; KES 1500.50 has cents"
    )
    small = provider.send(reference="PAYOUT_B", msisdn="254712345678", amount=Decimal("5"))
    assert small.reason == "M-Pesa pays at least KES 10; KES 5 is less"
    assert intersend.sends() == []
