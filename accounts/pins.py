"""USSD PINs: 4 digits, hashed like passwords; three wrong tries lock the PIN for 30 minutes."""

import re
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from accounts.models import User
from kazi.errors import DomainError
from kazi.sms import sms_send_after_commit

MAX_ATTEMPTS = 3
LOCK_FOR = timedelta(minutes=30)


class InvalidPin(DomainError):
    code = "invalid_pin"


class PinLocked(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "pin_locked"


def pin_validate(pin: str) -> str:
    if not re.fullmatch(r"\d{4}", pin or ""):
        raise InvalidPin("A PIN is 4 digits.")
    return pin


@transaction.atomic
def pin_set(*, user_id: int, pin: str) -> None:
    user = User.objects.select_for_update().get(pk=user_id)
    user.set_ussd_pin(pin_validate(pin))
    user.pin_failed_attempts = 0
    user.pin_locked_until = None
    user.save(update_fields=["ussd_pin", "pin_failed_attempts", "pin_locked_until"])


@transaction.atomic
def pin_check(*, user_id: int, pin: str) -> bool:
    """True if right. Wrong tries are counted under a row lock, so parallel guesses count too."""
    user = User.objects.select_for_update().get(pk=user_id)
    now = timezone.now()
    if user.pin_locked_until and user.pin_locked_until > now:
        raise PinLocked("Too many wrong PINs. Try again in 30 minutes.")
    if user.check_ussd_pin(pin):
        user.pin_failed_attempts = 0
        user.save(update_fields=["pin_failed_attempts"])
        return True
    user.pin_failed_attempts += 1
    if user.pin_failed_attempts >= MAX_ATTEMPTS:
        user.pin_failed_attempts = 0
        user.pin_locked_until = now + LOCK_FOR
    user.save(update_fields=["pin_failed_attempts", "pin_locked_until"])
    return False


RESET_SECONDS = 600


def _reset_key(user_id: int) -> str:
    return f"pin-reset:{user_id}"


def pin_generate() -> str:
    return f"{secrets.randbelow(10_000):04d}"


def pin_reset_start(*, user: User) -> None:
    """Send a one-time code by SMS; with it, a forgotten or locked PIN can be replaced."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    cache.set(_reset_key(user.pk), {"hash": make_password(code), "tries": 0}, RESET_SECONDS)
    sms_send_after_commit(
        phone_number=user.phone_number,
        message=f"Kazi Trust code to reset your PIN: {code}. It expires in 10 minutes.",
    )


def pin_reset_verify(*, user: User, code: str) -> bool:
    key = _reset_key(user.pk)
    pending = cache.get(key)
    if not pending or pending["tries"] >= MAX_ATTEMPTS:
        cache.delete(key)
        return False
    if check_password(code, pending["hash"]):
        cache.delete(key)
        return True
    pending["tries"] += 1
    cache.set(key, pending, RESET_SECONDS)
    return False


@transaction.atomic
def pin_reset_complete(*, user: User, code: str, pin: str) -> bool:
    """Replace a forgotten or locked PIN with the code pin_reset_start sent by SMS: False (and the
    PIN unchanged) when the code is wrong, expired or tried too often."""
    pin_validate(pin)  # before the code is spent
    if not pin_reset_verify(user=user, code=code):
        return False
    pin_set(user_id=user.pk, pin=pin)
    return True
