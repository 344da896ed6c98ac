import re

import pytest
import responses

from accounts.models import User
from kazi.sms import AfricasTalkingSms
from tests.ussd.test_journeys import register


def sms_code(sms, phone: str) -> str:
    message = [m for p, m in sms.sent if p == phone][-1]
    return re.search(r"\b(\d{4,6})\b", message).group(1)


def test_a_pin_can_be_generated_and_sent_by_sms(phone, sms, django_capture_on_commit_callbacks):
    dialer = phone("0722000111")
    dialer.dial()
    for value in ("1", "Otieno", "Odhiambo", "2"):
        dialer.press(value)
    with django_capture_on_commit_callbacks(execute=True):
        answer = dialer.press("0")
    assert answer == "END Registered, Otieno. Your PIN is on its way by SMS."
    pin = sms_code(sms, "+254722000111")
    assert User.objects.get().check_ussd_pin(pin)


def test_a_forgotten_or_locked_pin_is_reset_by_an_sms_code(
    phone, sms, django_capture_on_commit_callbacks
):
    dialer = phone()
    register(dialer, role="1", pin="2580")
    dialer.dial()
    dialer.press("2")
    dialer.press("2")
    for wrong in ("0000", "0001", "0002"):
        dialer.press(wrong)  # now locked
    dialer.dial()
    dialer.press("2")
    with django_capture_on_commit_callbacks(execute=True):
        assert "code we sent you" in dialer.press("3")
    code = sms_code(sms, "+254722000111")
    assert len(code) == 6
    dialer.press(code)
    dialer.press("7531")
    assert dialer.press("7531") == "END PIN changed."
    user = User.objects.get()
    assert user.check_ussd_pin("7531")
    assert user.pin_locked_until is None


def test_a_wrong_reset_code_resets_nothing(phone, sms, django_capture_on_commit_callbacks):
    dialer = phone()
    register(dialer, role="1", pin="2580")
    dialer.dial()
    dialer.press("2")
    with django_capture_on_commit_callbacks(execute=True):
        dialer.press("3")
    assert dialer.press("000000").startswith("END That code is wrong")
    assert User.objects.get().check_ussd_pin("2580")


REGISTER = "/api/ussd/register-callback/"
BODY = {
    "phone_number": "0722000111",
    "first_name": "Otieno",
    "last_name": "Odhiambo",
    "user_type": "employee",
    "language": "sw",
}


@pytest.mark.parametrize("key", [None, "", "wrong"])
def test_the_register_callback_needs_the_gateway_key(client, db, settings, key):
    settings.USSD_GATEWAY_API_KEY = "gateway-secret"
    headers = {} if key is None else {"HTTP_X_API_KEY": key}
    response = client.post(REGISTER, BODY, content_type="application/json", **headers)
    assert response.status_code in (401, 403)
    assert User.objects.count() == 0


def test_the_register_callback_creates_the_user_and_texts_a_pin(
    client, db, settings, sms, django_capture_on_commit_callbacks
):
    settings.USSD_GATEWAY_API_KEY = "gateway-secret"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            REGISTER, BODY, content_type="application/json", HTTP_X_API_KEY="gateway-secret"
        )
    assert response.status_code == 201
    assert response.json()["phone_number"] == "+254722000111"
    user = User.objects.get()
    assert (user.user_type, user.language) == ("employee", "sw")
    assert user.check_ussd_pin(sms_code(sms, "+254722000111"))
    again = client.post(
        REGISTER, BODY, content_type="application/json", HTTP_X_API_KEY="gateway-secret"
    )
    assert again.status_code == 400
    assert "phone_number" in again.json()


def test_no_gateway_key_configured_means_nobody_gets_in(client, db, settings):
    settings.USSD_GATEWAY_API_KEY = ""
    response = client.post(REGISTER, BODY, content_type="application/json", HTTP_X_API_KEY="")
    assert response.status_code in (401, 403)


@responses.activate
def test_the_africas_talking_adapter_speaks_its_api():
    responses.post(
        "https://api.sandbox.africastalking.com/version1/messaging",
        json={
            "SMSMessageData": {
                "Message": "Sent to 1/1",
                "Recipients": [
                    {
                        "statusCode": 101,
                        "number": "+254722000111",
                        "status": "Success",
                        "cost": "KES 0.8000",
                        "messageId": "ATXid_1",
                    }
                ],
            }
        },
        status=201,
    )
    AfricasTalkingSms("sandbox", "at-key", "KAZI").send(
        phone_number="+254722000111", message="Hello"
    )
    sent = responses.calls[0].request
    assert sent.headers["apiKey"] == "at-key"
    body = dict(pair.split("=") for pair in sent.body.split("&"))
    assert body["to"] == "%2B254722000111"
    assert body["message"] == "Hello"
    assert body["from"] == "KAZI"
    assert body["username"] == "sandbox"


def test_the_pin_never_reaches_logs_or_error_reports(client, db, caplog, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr("ussd.api.handle", crash)
    response = client.post(
        "/api/ussd/",
        {"sessionId": "s1", "phoneNumber": "0722000111", "text": "2*2*2580"},
    )
    assert response.content.decode().startswith("END ")
    assert "something broke" in caplog.text  # the failure is logged...
    assert "2580" not in caplog.text  # ...without what the user typed
