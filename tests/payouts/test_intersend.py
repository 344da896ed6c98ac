"""The Intersend adapter end to end against the local Intersend, which checks our signatures and
signs its callbacks."""

import json
import time

import pytest

from payments.models import MobileMoneyPayout, ProviderCallback
from payments.providers import get_local_intersend, get_payout_provider
from payments.providers.intersend import sign
from payments.tasks import payout_sweep
from tests.payouts.helpers import complete, use_provider

CALLBACK = "/api/callbacks/intersend/payout/"


@pytest.fixture
def intersend(settings):
    yield from use_provider(settings, "intersend", get_local_intersend)


def signed(body: dict, secret: str = "local-intersend-secret", skew: int = 0) -> tuple[str, dict]:
    raw = json.dumps(body)
    stamp = str(int(time.time()) - skew)
    return raw, {"HTTP_X_TIMESTAMP": stamp, "HTTP_X_SIGNATURE": sign(secret, stamp, raw.encode())}


def test_a_payout_is_sent_in_the_documented_format_and_completed_by_callback(
    api, employer, employee, intersend
):
    payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert payout.transaction_reference.startswith("IS")
    assert intersend.sends == [
        {
            "phone_number": employee.phone_number.lstrip("+"),
            "amount": "1500.00",
            "currency": "KES",
            "reference": payout.reference,
        }
    ]
    callback = ProviderCallback.objects.get(kind="intersend_payout")
    assert callback.outcome == f"{payout.reference}: completed"


@pytest.mark.parametrize(
    ("secret", "skew", "headers"),
    [("wrong-secret", 0, True), ("local-intersend-secret", 3600, True), (None, 0, False)],
    ids=["bad-signature", "stale", "unsigned"],
)
def test_unsigned_or_forged_news_changes_nothing(
    api, employer, employee, intersend, secret, skew, headers
):
    intersend.hold_callbacks = True
    payout = complete(api, employer, employee)
    news = {"reference": payout.reference, "status": "failed", "failure_reason": "forged"}
    raw, signature = signed(news, secret or "x", skew)
    response = api.anonymous().client.generic(
        "POST", CALLBACK, raw, content_type="application/json", **(signature if headers else {})
    )
    assert response.status_code == 401
    assert MobileMoneyPayout.objects.get().status == "processing"
    assert ProviderCallback.objects.get(kind="intersend_payout").outcome == (
        "rejected: bad signature"
    )


def test_out_of_order_and_repeated_news_never_reverse_an_outcome(
    api, employer, employee, intersend
):
    payout = complete(api, employer, employee)
    for status in ("processing", "failed", "completed"):
        raw, headers = signed({"reference": payout.reference, "status": status})
        response = api.anonymous().client.generic(
            "POST", CALLBACK, raw, content_type="application/json", **headers
        )
        assert response.status_code == 200
    assert MobileMoneyPayout.objects.get().status == "completed"


def test_news_about_an_unknown_payout_is_refused(api, intersend):
    raw, headers = signed({"reference": "PAYOUT_NOPE", "status": "completed"})
    response = api.anonymous().client.generic(
        "POST", CALLBACK, raw, content_type="application/json", **headers
    )
    assert response.status_code == 404


def test_without_a_callback_the_status_query_settles_it(
    api, settings, employer, employee, intersend
):
    from datetime import timedelta

    intersend.hold_callbacks = True
    payout = complete(api, employer, employee)
    assert payout.status == "processing"
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    payout_sweep()
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert len(intersend.sends) == 1


def test_a_resend_under_the_same_reference_pays_once(api, employer, employee, intersend):
    payout = complete(api, employer, employee)
    provider = get_payout_provider()
    again = provider.send(
        reference=payout.reference, msisdn=employee.phone_number.lstrip("+"), amount=payout.amount
    )
    assert again.transaction_reference == payout.transaction_reference
    with intersend.store.connect() as db:
        assert db.execute("select count(*) from payouts").fetchone()[0] == 1


def test_a_wrong_api_key_sends_nothing_and_decides_nothing(
    api, employer, employee, intersend, settings
):
    """A rotated key is our configuration, not Intersend's verdict on the payout: it waits,
    unsent, for the retries and the sweep once the key is right."""
    settings.INTERSEND_API_KEY = "wrong"
    get_payout_provider.cache_clear()
    payout = complete(api, employer, employee)
    assert (payout.status, payout.failure_reason) == ("pending", "")
    assert intersend.sends == []
