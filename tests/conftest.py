import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from rest_framework.test import APIClient

from escrow.ledger import get_ledger
from kazi.celery import app as celery_app
from kazi.sms import get_sms_sender
from mpesa.daraja import get_daraja
from payouts.providers import get_payout_provider
from payouts.selectors import books_summary
from stellar_service.cli import DEFAULT_WASM
from tests.factories import EmployeeFactory, EmployerFactory
from tests.outside_world import OutsideWorld


def pytest_configure() -> None:
    # Outbound work runs in-process in tests, even when REDIS_URL points at a real broker.
    celery_app.conf.task_always_eager = True


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.api.test_schemathesis import SENT

    if SENT["requests"]:
        terminalreporter.write_line(
            f"schemathesis: {SENT['requests']} requests over /api/schema/, as 4 roles each"
        )


def _require(item: pytest.Item, marker: str, available: bool, why: str) -> None:
    if item.get_closest_marker(marker) and not available:
        if os.environ.get(f"KAZI_REQUIRE_{marker.upper()}"):
            pytest.fail(f"{why}, and KAZI_REQUIRE_{marker.upper()} is set", pytrace=False)
        pytest.skip(why)


def _redis_answers() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    engine = django_settings.DATABASES["default"]["ENGINE"]
    _require(item, "postgres", "postgresql" in engine, "needs PostgreSQL (DATABASE_URL)")
    _require(item, "redis", _redis_answers(), "needs a Redis server (REDIS_URL)")
    _require(item, "wasm", DEFAULT_WASM.is_file(), "needs the contract's wasm (make contract)")


@pytest.fixture(autouse=True)
def outside_world(settings, tmp_path) -> Iterator[OutsideWorld]:
    """Each test gets a fresh sandbox (Daraja, IntaSend, Intersend) behind the app's real clients,
    a fresh local ledger, and empty throttle counters (tests/outside_world.py)."""
    # Hashing strength is not under test here; PBKDF2 would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOCAL_LEDGER_PATH = tmp_path / "ledger.sqlite3"
    # Announcements handled after each commit, as tasks run in-process here (eager), even where
    # REDIS_URL would have beat's relay take them; the relay's own tests turn it on.
    settings.ANNOUNCEMENT_RELAY_SECONDS = 0
    clients = [get_ledger, get_payout_provider, get_daraja, get_sms_sender]
    for client in clients:
        client.cache_clear()
    cache.clear()
    with OutsideWorld(tmp_path / "sandbox.sqlite3") as world:
        yield world
    for client in clients:
        client.cache_clear()


def after_commit() -> None:
    """What the announcement workers do once a step has committed (kazi/events.py), for tests
    that call the services inside their own never-committed transaction."""
    from kazi.events import announcement_handle
    from kazi.models import Announcement

    for pk in Announcement.objects.filter(handled_at__isnull=True).values_list("pk", flat=True):
        announcement_handle(pk)


def assert_books_balance() -> dict:
    """P1: every shilling received is accounted for, overall and per escrow."""
    summary = books_summary()
    assert summary["balanced"], f"books do not balance: {summary}"
    return summary


@pytest.fixture
def ledger():
    return get_ledger()


@pytest.fixture
def sms():
    """The console SMS backend: what would have reached phones."""
    return get_sms_sender()


@pytest.fixture
def sandbox(outside_world):
    """The sandbox the app's clients reach (its control API, deliveries, requests seen)."""
    return outside_world.sandbox


@pytest.fixture
def daraja(sandbox):
    """The sandbox's Daraja: `.faults`, `.requests`, `.release_held()`, its callbacks' bodies."""
    return sandbox.daraja


class Api:
    """An HTTP client whose requests behave like production: outbound work queued on commit runs
    once the request's transaction has committed."""

    def __init__(self, capture) -> None:
        self.client = APIClient()
        self._capture = capture

    def as_user(self, user) -> "Api":
        from accounts.services import user_tokens

        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_tokens(user)['access']}")
        return self

    def anonymous(self) -> "Api":
        self.client.credentials()
        return self

    def _call(self, method: str, url: str, data=None, **extra):
        with self._capture(execute=True):
            return getattr(self.client, method)(url, data, format="json", **extra)

    def get(self, url: str, data=None, **extra):
        with self._capture(execute=True):
            return self.client.get(url, data, **extra)

    def post(self, url: str, data=None, **extra):
        return self._call("post", url, data, **extra)

    def patch(self, url: str, data=None, **extra):
        return self._call("patch", url, data, **extra)

    def raw_post(self, url: str, body: str, content_type: str = "application/json", **extra):
        with self._capture(execute=True):
            return self.client.generic("POST", url, body, content_type=content_type, **extra)


@pytest.fixture
def api(db, django_capture_on_commit_callbacks) -> Iterator[Api]:
    yield Api(django_capture_on_commit_callbacks)
    assert_books_balance()  # after every HTTP scenario


@pytest.fixture
def employer(db):
    return EmployerFactory()


@pytest.fixture
def employee(db):
    return EmployeeFactory()


def payout_sms(sms) -> list[str]:
    """The texts telling someone their money was sent (every money step sends one now)."""
    return [text for _, text in sms.sent if "sent to your M-Pesa" in text or "sent back" in text]


def c2b_payload(reference: str, amount: str | Decimal, trans_id: str = "RKTQDM7W6S") -> dict:
    """A Daraja C2B confirmation as Safaricom sends it (MSISDN arrives masked)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20261123101500",
        "TransAmount": str(amount),
        "BusinessShortCode": "600000",
        "BillRefNumber": reference,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "Wanjiku",
    }
