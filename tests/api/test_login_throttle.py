"""Login and registration limits: per client address, where X-Forwarded-For counts only from a
trusted proxy, and for logins also per account, whatever address the attempts come from."""

import itertools
import time
from types import SimpleNamespace

import pytest
from rest_framework.settings import api_settings

from accounts import login_guard
from tests.factories import PASSWORD, EmployeeFactory

LOGIN = "/api/auth/login/"
REGISTER = "/api/auth/register/"
LOCKED = {
    "detail": "Too many failed logins for this account. Try again in 15 minutes.",
    "code": "login_locked",
}


def address_limit(scope: str) -> int:
    return int(api_settings.DEFAULT_THROTTLE_RATES[scope].split("/")[0])


@pytest.fixture
def otieno(db):
    return EmployeeFactory(phone_number="+254722000111", email="otieno@example.com")


@pytest.fixture
def login(api):
    """Log in from a new client address each time, so only the per-account count can refuse."""
    addresses = (f"41.90.{n // 250}.{n % 250 + 1}" for n in itertools.count())

    def attempt(password: str, **identifier: str):
        body = {**(identifier or {"phone_number": "0722000111"}), "password": password}
        return api.anonymous().post(LOGIN, body, REMOTE_ADDR=next(addresses))

    return attempt


@pytest.fixture
def later(monkeypatch):
    """Moves the lockout's clock `seconds` ahead."""

    def move(seconds: float) -> None:
        now = time.time() + seconds
        monkeypatch.setattr(login_guard, "time", SimpleNamespace(time=lambda: now))

    return move


@pytest.mark.parametrize(("url", "scope"), [(LOGIN, "login"), (REGISTER, "register")])
def test_a_made_up_forwarded_for_does_not_escape_the_address_limit(api, url, scope):
    limit = address_limit(scope)
    answers = [
        api.anonymous().post(
            url, {}, REMOTE_ADDR="41.90.0.7", HTTP_X_FORWARDED_FOR=f"197.232.{n}.1"
        )
        for n in range(limit + 20)
    ]
    assert [a.status_code for a in answers] == [400] * limit + [429] * 20
    assert "throttled" in answers[-1].json()["detail"].lower()
    assert int(answers[-1]["Retry-After"]) > 0


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_apart(api, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def post(forwarded_for: str) -> int:
        extra = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": forwarded_for}
        return api.anonymous().post(LOGIN, {}, **extra).status_code

    limit = address_limit("login")
    assert [post("41.90.0.1") for _ in range(limit)] == [400] * limit
    assert post("41.90.0.1") == 429
    assert post("6.6.6.6, 41.90.0.1") == 429  # entries left of the client's are its own say-so
    assert post("41.90.0.1, 10.0.0.9") == 429  # through a second proxy of ours
    assert post("41.90.0.2") == 400  # another client behind the same proxy


def test_an_untrusted_proxy_is_the_client_whatever_it_forwards(api, otieno):
    limit = address_limit("login")
    extra = {"REMOTE_ADDR": "10.0.0.2"}
    codes = [
        api.anonymous().post(LOGIN, {}, HTTP_X_FORWARDED_FOR=f"41.90.0.{n}", **extra).status_code
        for n in range(limit)
    ]
    assert codes == [400] * limit
    right = {"phone_number": "0722000111", "password": PASSWORD}
    assert api.post(LOGIN, right, HTTP_X_FORWARDED_FOR="41.90.1.1", **extra).status_code == 429


def test_failed_logins_lock_the_account_from_every_address(login, otieno, settings, later):
    failures = settings.LOGIN_ACCOUNT_MAX_FAILURES
    assert [login("wrong-guess").status_code for _ in range(failures)] == [401] * failures

    refused = login(PASSWORD)
    assert refused.status_code == 429
    assert refused.json() == LOCKED
    assert refused["Retry-After"] == str(settings.LOGIN_ACCOUNT_LOCK_SECONDS)
    assert login(PASSWORD, phone_number="+254 722 000 111").status_code == 429
    assert login(PASSWORD, phone_number="254722000111").status_code == 429
    other = EmployeeFactory(phone_number="+254733000222")
    assert login(PASSWORD, phone_number=other.phone_number).status_code == 200

    later(settings.LOGIN_ACCOUNT_LOCK_SECONDS / 2)
    halfway = login(PASSWORD)
    assert halfway.status_code == 429
    assert halfway.json()["detail"].endswith("Try again in 8 minutes.")
    assert halfway["Retry-After"] == str(settings.LOGIN_ACCOUNT_LOCK_SECONDS // 2)

    later(settings.LOGIN_ACCOUNT_LOCK_SECONDS + 1)
    welcome = login(PASSWORD)
    assert welcome.status_code == 200
    assert welcome.json()["user"]["phone_number"] == "+254722000111"


def test_a_successful_login_clears_the_count(login, otieno, settings):
    failures = settings.LOGIN_ACCOUNT_MAX_FAILURES
    for _ in range(failures - 1):
        assert login("wrong-guess").status_code == 401
    assert login(PASSWORD).status_code == 200
    assert [login("wrong-guess").status_code for _ in range(failures)] == [401] * failures
    assert login(PASSWORD).status_code == 429


@pytest.mark.parametrize(
    "forms",
    [
        [{"phone_number": "0722000111"}, {"phone_number": "+254722000111"}],
        [{"phone_number": "0799999999"}, {"phone_number": "799 999 999"}],
        [{"email": "OTIENO@example.com"}, {"email": "otieno@EXAMPLE.com"}],
        [{"email": "nobody@example.com"}, {"email": "Nobody@Example.com"}],
    ],
    ids=["registered phone", "unknown phone", "registered email", "unknown email"],
)
def test_registered_or_not_an_account_is_locked_the_same_way(login, otieno, settings, forms):
    failures = settings.LOGIN_ACCOUNT_MAX_FAILURES
    answers = [login("wrong-guess", **forms[n % 2]) for n in range(failures + 1)]
    assert [a.status_code for a in answers] == [401] * failures + [429]
    assert answers[0].json()["code"] == "invalid_credentials"
    assert answers[-1].json() == LOCKED
    assert answers[-1]["Retry-After"] == str(settings.LOGIN_ACCOUNT_LOCK_SECONDS)
