"""The SMS port. `console` (the embedded default) prints messages to the server's terminal;
`africastalking` sends them through Africa's Talking's SMS API with its SDK. Messages are sent
from a Celery task after commit, never inside a USSD request."""

import sys
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kazi.outbound import dispatch_on_commit


class SmsSender(Protocol):
    def send(self, *, phone_number: str, message: str) -> None: ...


class ConsoleSms:
    """Prints to stdout (not the log): on a developer's machine the terminal is the phone."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, *, phone_number: str, message: str) -> None:
        self.sent.append((phone_number, message))
        print(f"[SMS to {phone_number}] {message}", file=sys.stdout, flush=True)


class AfricasTalkingSms:
    def __init__(self, username: str, api_key: str, sender_id: str | None) -> None:
        from africastalking.SMS import SMSService

        self.service = SMSService(username, api_key)
        self.sender_id = sender_id or None

    def send(self, *, phone_number: str, message: str) -> None:
        # Africa's Talking wants +254...; our numbers are stored that way.
        self.service.send(message, [phone_number], sender_id=self.sender_id)


@cache
def get_sms_sender() -> SmsSender:
    if settings.SMS_BACKEND == "console":
        return ConsoleSms()
    if settings.SMS_BACKEND == "africastalking":
        return AfricasTalkingSms(
            settings.AFRICASTALKING_USERNAME,
            settings.AFRICASTALKING_API_KEY,
            settings.AFRICASTALKING_SENDER_ID,
        )
    raise ImproperlyConfigured(f"Unknown SMS_BACKEND {settings.SMS_BACKEND!r}")


def sms_send_after_commit(*, phone_number: str, message: str) -> None:
    from notifications.tasks import send_sms  # the tasks module imports this one

    dispatch_on_commit(send_sms, phone_number, message)
