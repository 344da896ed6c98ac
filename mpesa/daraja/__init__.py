"""Daraja for the rest of the app: the client for the configured environment. MPESA_ENV=local
(the embedded default) is the sandbox's Daraja at SANDBOX_URL (`python -m sandbox`, started by
`make run`), reached over HTTP by the same client as Safaricom's: only the base URL differs."""

from functools import cache

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from mpesa.daraja.callback_urls import callback_url
from mpesa.daraja.client import (
    BASE_URLS,
    DarajaClient,
    DarajaConfig,
    DarajaError,
    DarajaUnavailable,
)


def base_url() -> str:
    if settings.MPESA_ENV == "local":
        return settings.SANDBOX_URL.rstrip("/")
    if settings.MPESA_ENV in BASE_URLS:
        return BASE_URLS[settings.MPESA_ENV]
    raise ImproperlyConfigured(f"Unknown MPESA_ENV {settings.MPESA_ENV!r}")


@cache
def get_daraja() -> DarajaClient:
    config = DarajaConfig(
        base_url=base_url(),
        consumer_key=settings.MPESA_CONSUMER_KEY,
        consumer_secret=settings.MPESA_CONSUMER_SECRET,
        shortcode=settings.MPESA_SHORTCODE,
        passkey=settings.MPESA_PASSKEY,
        initiator_name=settings.MPESA_INITIATOR_NAME,
        security_credential=settings.MPESA_SECURITY_CREDENTIAL,
        timeout=settings.MPESA_HTTP_TIMEOUT,
        b2c_shortcode=settings.MPESA_B2C_SHORTCODE,
    )
    return DarajaClient(config)


def sandbox_health() -> str | None:
    """For the health check: "ok" if the sandbox answers, "error: ..." if not, None when M-Pesa
    is Safaricom's (MPESA_ENV other than local) and the sandbox is none of our business."""
    if settings.MPESA_ENV != "local":
        return None
    try:
        answer = httpx.get(f"{settings.SANDBOX_URL.rstrip('/')}/_sandbox/health", timeout=2)
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__} at {settings.SANDBOX_URL}"
    return "ok" if answer.status_code == 200 else f"error: HTTP {answer.status_code}"


__all__ = [
    "DarajaClient",
    "DarajaError",
    "DarajaUnavailable",
    "callback_url",
    "get_daraja",
    "sandbox_health",
]
