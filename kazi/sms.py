"""The SMS port. `africastalking` sends messages through Africa's Talking's SMS API with its SDK;
`console` (the embedded default) is the sandbox's stand-in, printing them to the terminal.
Messages are sent from a Celery task after commit, never inside a USSD request."""

from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from kazi.outbound import dispatch_on_commit


class SmsSender(Protocol):
    def send(self, *, phone_number: str, message: str) -> None: ...


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
        # By name: production (which refuses this backend) never imports the sandbox.
        return import_string("sandbox.sms.ConsoleSms")()
    if settings.SMS_BACKEND == "africastalking":
        return AfricasTalkingSms(
            settings.AFRICASTALKING_USERNAME,
            settings.AFRICASTALKING_API_KEY,
            settings.AFRICASTALKING_SENDER_ID,
        )
    raise ImproperlyConfigured(f"Unknown SMS_BACKEND {settings.SMS_BACKEND!r}")


def sms_send_after_commit(*, phone_number: str, message: str) -> None:
    """A message that is not kept (it carries a PIN or a reset code)."""
    dispatch_on_commit("kazi.tasks.send_sms", phone_number, message)
