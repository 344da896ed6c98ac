from django.conf import settings
from django.db import transaction

from accounts import pins
from accounts.models import User
from accounts.services import user_register
from kazi.sms import sms_send_after_commit


@transaction.atomic
def ussd_register(
    *,
    phone_number: str,
    first_name: str,
    last_name: str,
    user_type: str,
    language: str = "en",
    pin: str | None = None,
) -> User:
    """A user registered by phone alone: no password, a PIN (chosen, or generated and sent by
    SMS). The same user as a web registration otherwise."""
    user = user_register(
        phone_number=phone_number,
        password=None,
        user_type=user_type,
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    if pin is None:
        pin = pins.pin_generate()
        sms_send_after_commit(
            phone_number=user.phone_number,
            message=f"Welcome to Kazi Trust. Your PIN is {pin}. Dial {settings.USSD_SERVICE_CODE} "
            "and keep your PIN secret.",
        )
    pins.pin_set(user_id=user.pk, pin=pin)
    return user
