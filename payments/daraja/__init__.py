from functools import cache
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from payments.daraja.client import (
    BASE_URLS,
    DarajaClient,
    DarajaConfig,
    DarajaError,
    DarajaUnavailable,
)
from payments.daraja.local import LocalDaraja


@cache
def get_local_daraja() -> LocalDaraja:
    return LocalDaraja(
        settings.LOCAL_DARAJA_PATH,
        shortcode=settings.MPESA_SHORTCODE,
        passkey=settings.MPESA_PASSKEY,
        initiator_name=settings.MPESA_INITIATOR_NAME,
        security_credential=settings.MPESA_SECURITY_CREDENTIAL,
    )


@cache
def get_daraja() -> DarajaClient:
    transport = None
    if settings.MPESA_ENV == "local":
        base_url, transport = "https://daraja.local", get_local_daraja()
    elif settings.MPESA_ENV in BASE_URLS:
        base_url = BASE_URLS[settings.MPESA_ENV]
    else:
        raise ImproperlyConfigured(f"Unknown MPESA_ENV {settings.MPESA_ENV!r}")
    config = DarajaConfig(
        base_url=base_url,
        consumer_key=settings.MPESA_CONSUMER_KEY,
        consumer_secret=settings.MPESA_CONSUMER_SECRET,
        shortcode=settings.MPESA_SHORTCODE,
        passkey=settings.MPESA_PASSKEY,
        initiator_name=settings.MPESA_INITIATOR_NAME,
        security_credential=settings.MPESA_SECURITY_CREDENTIAL,
        timeout=settings.MPESA_HTTP_TIMEOUT,
        b2c_shortcode=settings.MPESA_B2C_SHORTCODE,
    )
    return DarajaClient(config, transport=transport)


def callback_url(name: str) -> str:
    """The public URL Safaricom calls for `name`, with the shared secret when one is set."""
    url = settings.MPESA_CALLBACK_BASE_URL.rstrip("/") + reverse(name)
    if settings.MPESA_CALLBACK_TOKEN:
        url += "?" + urlencode({"token": settings.MPESA_CALLBACK_TOKEN})
    return url


__all__ = [
    "DarajaClient",
    "DarajaError",
    "DarajaUnavailable",
    "callback_url",
    "get_daraja",
    "get_local_daraja",
]
