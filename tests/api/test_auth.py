import pytest

from accounts.models import User
from accounts.services import user_tokens
from tests.factories import PASSWORD, EmployeeFactory

REGISTER = "/api/auth/register/"
LOGIN = "/api/auth/login/"
REFRESH = "/api/auth/refresh/"


def registration(**changes):
    return {
        "phone_number": "0712345678",
        "password": "correct-horse-battery",
        "email": "wanjiku@example.com",
        "first_name": "Wanjiku",
        "last_name": "Kamau",
        "user_type": "employer",
        **changes,
    }


def test_register_returns_the_user_and_working_tokens(api):
    response = api.anonymous().post(REGISTER, registration())
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["id"] == User.objects.get().pk
    assert body["user"]["phone_number"] == "+254712345678"
    assert body["user"]["user_type"] == "employer"
    assert "password" not in body["user"]
    me = api.client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.json()["phone_number"] == "+254712345678"


@pytest.mark.parametrize(
    "phone", ["0712345678", "712345678", "254712345678", "+254712345678", "+254 712 345 678"]
)
def test_every_form_of_a_number_is_one_account(api, phone):
    assert api.anonymous().post(REGISTER, registration(phone_number=phone)).status_code == 201
    assert User.objects.get().phone_number == "+254712345678"
    again = api.post(REGISTER, registration(phone_number="0712345678", email="x@example.com"))
    assert again.status_code == 400
    assert "phone_number" in again.json()
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "password"}, "password"),
        ({"password": "12345678901"}, "password"),
        ({"password": "short1"}, "password"),
        ({"password": "wanjikukamau"}, "password"),
        ({"user_type": "admin"}, "user_type"),
        ({"phone_number": "0202222222"}, "phone_number"),
        ({"phone_number": "+15555550100"}, "phone_number"),
        ({"phone_number": "not a phone"}, "phone_number"),
        ({"email": "not-an-email"}, "email"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 151}, "first_name"),
        ({"is_staff": True}, "is_staff"),
    ],
)
def test_bad_registrations_are_refused_with_the_field_named(api, changes, field):
    response = api.anonymous().post(REGISTER, registration(**changes))
    assert response.status_code == 400
    assert field in response.json()
    assert User.objects.count() == 0


def test_emails_are_unique_whatever_their_case(api):
    api.anonymous().post(REGISTER, registration())
    response = api.post(
        REGISTER, registration(phone_number="0722000111", email="WANJIKU@example.com")
    )
    assert response.status_code == 400
    assert "email" in response.json()


def test_email_is_optional(api):
    data = registration()
    del data["email"]
    assert api.anonymous().post(REGISTER, data).status_code == 201
    assert api.post(REGISTER, registration(phone_number="0722000111", email="")).status_code == 201
    assert User.objects.filter(email__isnull=True).count() == 2


@pytest.mark.parametrize(
    "identifier",
    [
        {"phone_number": "0722000111"},
        {"phone_number": "+254722000111"},
        {"phone_number": "722000111"},
        {"email": "OTIENO@example.com"},
    ],
)
def test_login_by_phone_in_any_form_or_by_email(api, identifier):
    EmployeeFactory(phone_number="+254722000111", email="otieno@example.com")
    response = api.anonymous().post(LOGIN, {**identifier, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["phone_number"] == "+254722000111"
    assert response.json()["access"]


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": "0722000111", "password": "wrong-password"},
        {"phone_number": "0799999999", "password": PASSWORD},
        {"phone_number": "garbage", "password": PASSWORD},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_a_401(api, body):
    EmployeeFactory(phone_number="+254722000111")
    response = api.anonymous().post(LOGIN, body)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_inactive_users_cannot_log_in(api):
    EmployeeFactory(phone_number="+254722000111", is_active=False)
    response = api.anonymous().post(LOGIN, {"phone_number": "0722000111", "password": PASSWORD})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD},
        {"phone_number": "0722000111", "email": "a@example.com", "password": PASSWORD},
        {"phone_number": "0722000111"},
    ],
)
def test_login_needs_exactly_one_identifier_and_a_password(api, body):
    assert api.anonymous().post(LOGIN, body).status_code == 400


def test_refresh_gives_a_working_access_token(api):
    tokens = api.anonymous().post(REGISTER, registration()).json()
    refreshed = api.post(REFRESH, {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    me = api.client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert me.status_code == 200


@pytest.mark.parametrize("gone", ["deleted", "deactivated"])
def test_refresh_for_a_user_who_is_gone_is_a_401(api, gone):
    user = EmployeeFactory()
    refresh = user_tokens(user)["refresh"]
    if gone == "deleted":
        user.delete()
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)
    response = api.anonymous().post(REFRESH, {"refresh": refresh})
    assert response.status_code == 401
    assert response.json() == {"detail": "No active account found for the given token."}


def test_refresh_refuses_fields_it_does_not_know(api):
    refresh = user_tokens(EmployeeFactory())["refresh"]
    response = api.anonymous().post(REFRESH, {"refresh": refresh, "remember_me": True})
    assert response.status_code == 400
    assert response.json() == {"remember_me": ["Unknown field."]}


ODD_BODIES = {
    "refresh a number": '{"refresh": 12345}',
    "refresh a list": '{"refresh": ["eyJhbGciOi"]}',
    "refresh an object": '{"refresh": {"token": "eyJhbGciOi"}}',
    "refresh null": '{"refresh": null}',
    "unknown keys": '{"username": "admin", "is_staff": true}',
    "NUL in a token": '{"refresh": "eyJhbGciOi\\u0000"}',
    "NUL in a phone number": '{"phone_number": "0722\\u0000000111", "password": "x"}',
    "NUL in an email": '{"email": "otieno\\u0000@example.com", "password": "x"}',
    "NUL in a password": '{"phone_number": "0722000111", "password": "pass\\u0000word"}',
    "lone surrogate": '{"phone_number": "0722000111", "password": "\\ud800"}',
    "a long token": f'{{"refresh": "{"e" * 60_000}"}}',
    "a long password": f'{{"phone_number": "0722000111", "password": "{"p" * 60_000}"}}',
    "a body over the size limit": f'{{"password": "{"p" * 70_000}"}}',
    "huge number": '{"phone_number": 1e999, "password": 1}',
    "deeply nested list": "[" * 10_000 + "]" * 10_000,
    "deeply nested object": '{"refresh": ' * 40 + '"x"' + "}" * 40,
    "a list": '["0722000111", "password"]',
    "a string": '"refresh"',
    "null": "null",
    "not JSON": "phone_number=0722000111&password=x",
}


@pytest.mark.parametrize("url", [REGISTER, LOGIN, REFRESH])
@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_odd_bodies_get_a_json_4xx_and_write_nothing(api, url, body):
    EmployeeFactory(phone_number="+254722000111")
    response = api.anonymous().raw_post(url, body.encode())
    assert 400 <= response.status_code < 500, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json()
    assert User.objects.count() == 1


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_me_needs_a_valid_token(api, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = api.anonymous().client.get("/api/auth/me/", **extra)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_passwords_are_stored_hashed(api):
    api.anonymous().post(REGISTER, registration())
    user = User.objects.get()
    assert "correct-horse-battery" not in user.password
    assert user.check_password("correct-horse-battery")
