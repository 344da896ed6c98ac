"""Signing up, logging in and out through the pages: the API's rules and limits, errors beside
their field, sessions and CSRF."""

import itertools
import re

import pytest
from rest_framework.settings import api_settings

from accounts.models import User
from tests.factories import PASSWORD, EmployeeFactory
from tests.web.helpers import csrf_token, field_errors, form_errors, html, page_ids, text

SIGNUP = {
    "phone_number": "0712 345 678",
    "password": "mvua-ya-masika-9",
    "first_name": "Wanjiku",
    "last_name": "Kamau",
    "email": "",
    "user_type": "employer",
}


def limit(scope: str) -> int:
    return int(api_settings.DEFAULT_THROTTLE_RATES[scope].split("/")[0])


@pytest.fixture
def otieno(db):
    return EmployeeFactory(phone_number="+254722000111", email="otieno@example.com")


def test_signing_up_logs_in_and_goes_on_to_post_a_job(web):
    response = web.post("/signup/", SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == "/jobs/new/"
    user = User.objects.get()
    assert (user.phone_number, user.user_type, user.email, user.language) == (
        "+254712345678",
        "employer",
        None,
        "en",
    )
    assert user.check_password("mvua-ya-masika-9")
    assert web.get("/me/").status_code == 200  # logged in by session


def test_a_worker_signs_up_in_kiswahili_and_goes_to_find_work(web):
    web.client.cookies["django_language"] = "sw"
    response = web.post(
        "/signup/", {**SIGNUP, "user_type": "employee", "phone_number": "254722000111"}
    )
    assert response["Location"] == "/jobs/"
    assert User.objects.get().language == "sw"


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        (
            {"phone_number": "12345"},
            "phone_number",
            "Enter a Kenyan mobile number, like 0712 345 678.",
        ),
        ({"phone_number": ""}, "phone_number", "This field is required."),
        ({"first_name": ""}, "first_name", "This field is required."),
        ({"user_type": ""}, "user_type", "Choose whether you hire or look for work."),
        (
            {"user_type": "admin"},
            "user_type",
            "Select a valid choice. admin is not one of the available choices.",
        ),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password": "short1x"}, "password", "Use at least 8 characters."),
        ({"password": "12345678901"}, "password", "Not only numbers: add some letters."),
        (
            {"password": "password123"},
            "password",
            "Too common: anyone could guess it. Choose another.",
        ),
        (
            {"password": "wanjikukamau"},
            "password",
            "Too like your name, phone number or email: choose another.",
        ),
    ],
)
def test_signup_errors_appear_beside_the_field(web, change, field, error):
    response = web.post("/signup/", {**SIGNUP, **change})
    assert response.status_code == 400
    assert error in field_errors(response, field)
    assert User.objects.count() == 0
    described = re.search(rf'aria-describedby="([^"]*)"[^>]*id="id_{field}"', html(response))
    assert field == "user_type" or f"id_{field}_error" in described[1].split()


def test_a_phone_number_in_use_is_refused_beside_it(web, otieno):
    response = web.post("/signup/", {**SIGNUP, "phone_number": "+254 722 000 111"})
    assert field_errors(response, "phone_number") == [
        "An account with this phone number already exists. Log in instead."
    ]
    response = web.post("/signup/", {**SIGNUP, "email": "OTIENO@example.com"})
    assert field_errors(response, "email") == ["An account with this email already exists."]


def test_logging_in_with_any_form_of_the_phone_number(web, otieno):
    for typed in [
        "0722000111",
        "722 000 111",
        "254722000111",
        "+254722000111",
        "otieno@example.com",
    ]:
        web.logout()
        response = web.post("/login/", {"phone_number": typed, "password": PASSWORD})
        assert response.status_code == 302, typed
        assert response["Location"] == "/me/"


def test_login_goes_back_where_it_was_asked_for_but_never_off_site(web, otieno):
    response = web.post(
        "/login/", {"phone_number": "0722000111", "password": PASSWORD, "next": "/jobs/"}
    )
    assert response["Location"] == "/jobs/"
    web.logout()
    response = web.post(
        "/login/",
        {"phone_number": "0722000111", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/me/"


def test_a_wrong_password_is_said_beside_it(web, otieno):
    response = web.post("/login/", {"phone_number": "0722000111", "password": "wrong-password"})
    assert response.status_code == 400
    assert field_errors(response, "password") == ["Wrong phone number or password."]
    assert web.get("/me/").status_code == 302  # not logged in


def test_five_failed_logins_lock_the_account_as_the_api_does(web, browser, otieno):
    """login_guard, per account: from any address, and the API counts with the pages."""
    addresses = (f"41.90.0.{n}" for n in itertools.count(1))
    for _ in range(5):
        response = web.post(
            "/login/",
            {"phone_number": "0722000111", "password": "nope-nope-1"},
            REMOTE_ADDR=next(addresses),
        )
        assert response.status_code == 400
    other = browser()
    response = other.post(
        "/login/",
        {"phone_number": "+254722000111", "password": PASSWORD},
        REMOTE_ADDR=next(addresses),
    )
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert form_errors(response) == [
        "Too many failed logins for this account. Try again in 15 minutes."
    ]
    answer = other.client.post(
        "/api/auth/login/",
        {"phone_number": "0722000111", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR=next(addresses),
    )
    assert answer.status_code == 429


def test_the_address_limit_is_the_apis_and_counts_with_it(web, otieno):
    """The same count per address (kazi.addresses.source_address) for the API and the pages."""
    rate = limit("login")
    for _ in range(rate - 1):
        web.client.post(
            "/api/auth/login/", {}, content_type="application/json", REMOTE_ADDR="41.90.1.1"
        )
    response = web.post(
        "/login/", {"phone_number": "0722000111", "password": PASSWORD}, REMOTE_ADDR="41.90.1.1"
    )
    assert response.status_code == 302  # the limit's last one
    web.logout()
    response = web.post(
        "/login/",
        {"phone_number": "0722000111", "password": PASSWORD},
        REMOTE_ADDR="41.90.1.1",
        HTTP_X_FORWARDED_FOR="197.232.0.1",  # made up: believed only from a trusted proxy
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert form_errors(response)[0].startswith("Too many attempts from your network.")
    assert web.get("/me/").status_code == 302
    response = web.post(
        "/login/", {"phone_number": "0722000111", "password": PASSWORD}, REMOTE_ADDR="41.90.1.2"
    )
    assert response.status_code == 302  # another address


def test_signup_has_the_apis_address_limit(web):
    for _n in range(limit("register")):
        web.post("/signup/", {**SIGNUP, "phone_number": ""}, REMOTE_ADDR="41.90.2.1")
    response = web.post("/signup/", SIGNUP, REMOTE_ADDR="41.90.2.1")
    assert response.status_code == 429
    assert User.objects.count() == 0


def test_logout_is_a_post_with_csrf(browser, otieno):
    web = browser(enforce_csrf_checks=True).login(otieno)
    page = web.get("/me/")
    assert "logout-button" in page_ids(page)
    assert web.get("/logout/").status_code == 200  # a page that asks; a link logs nobody out
    assert web.get("/me/").status_code == 200
    response = web.post("/logout/")
    assert response.status_code == 403  # no token
    assert "Please send the form again" in text(response)
    assert web.get("/me/").status_code == 200
    response = web.post("/logout/", {"csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 302
    assert web.get("/me/").status_code == 302


@pytest.mark.parametrize("url", ["/signup/", "/login/", "/language/"])
def test_every_form_needs_its_csrf_token(browser, url):
    web = browser(enforce_csrf_checks=True)
    assert web.post(url, SIGNUP).status_code == 403
    assert User.objects.count() == 0


def test_a_form_sent_with_its_token_passes(browser):
    web = browser(enforce_csrf_checks=True)
    page = web.get("/signup/")
    response = web.post("/signup/", {**SIGNUP, "csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 302
    assert User.objects.count() == 1


def test_the_api_keeps_its_json_csrf_free_login(web, otieno):
    answer = web.client.post(
        "/api/auth/login/",
        {"phone_number": "0722000111", "password": PASSWORD},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert "access" in answer.json()
