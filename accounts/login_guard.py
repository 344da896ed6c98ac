"""Failed logins counted per account, whatever address they come from: the per-address throttle
alone lets anyone with many addresses guess at one account's password. The counts live in the
cache (Redis in production, so every web process sees the same ones).

An account is the phone number (E.164) or the lower-cased email as typed, registered or not: an
unknown one is counted and locked the same way, so a lock tells nobody who has an account.
Call login_attempt before checking a password and login_succeeded after a right one."""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

from accounts.phones import InvalidPhoneNumber, normalise_phone
from kazi.errors import TooManyAttempts


def login_account(identifier: str) -> str:
    """The account a phone number (in any form) or an email names; other text names itself."""
    text = identifier.strip()
    if "@" in text:
        return text.lower()
    try:
        return normalise_phone(text)
    except InvalidPhoneNumber:
        return text


def login_attempt(account: str) -> None:
    """Let an attempt at `account` go on to the password check, or refuse it (429) while the
    account is locked. The attempt counts as a failure until login_succeeded clears the count:
    counted before the password is checked, parallel guesses cannot slip in under the limit."""
    failures, locked = _keys(account)
    now = time.time()
    until = cache.get(locked)
    if until is not None and until > now:
        raise _locked(until - now)
    if _count(failures) > settings.LOGIN_ACCOUNT_MAX_FAILURES:
        lock_seconds = settings.LOGIN_ACCOUNT_LOCK_SECONDS
        cache.set(locked, now + lock_seconds, lock_seconds)
        cache.delete(failures)  # a fresh count once the lock is over
        raise _locked(lock_seconds)


def login_succeeded(account: str) -> None:
    cache.delete(_keys(account)[0])


def _keys(account: str) -> tuple[str, str]:
    # Hashed: no phone numbers or emails in the cache, and one key length whatever was typed.
    digest = hashlib.sha256(account.encode()).hexdigest()
    return f"login-failures:{digest}", f"login-locked-until:{digest}"


def _count(key: str) -> int:
    """One more attempt in the count at `key`, which lasts LOGIN_ACCOUNT_LOCK_SECONDS from its
    first attempt. add and incr are atomic in Redis, so parallel requests all count."""
    window = settings.LOGIN_ACCOUNT_LOCK_SECONDS
    if cache.add(key, 1, window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, window)
        return 1


def _locked(seconds: float) -> TooManyAttempts:
    minutes = math.ceil(seconds / 60)
    return TooManyAttempts(
        "Too many failed logins for this account. "
        f"Try again in {minutes} minute{'' if minutes == 1 else 's'}.",
        retry_after=math.ceil(seconds),
        code="login_locked",
    )
