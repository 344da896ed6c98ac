from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from payments.providers.base import PayoutProvider, PayoutResult, PayoutUnavailable

if TYPE_CHECKING:
    from payments.providers.intasend_local import LocalIntasend
    from payments.providers.intersend_local import LocalIntersend


def _our_url(name: str) -> str:
    """Where a stand-in reaches our callback over HTTP: this server, as Safaricom does."""
    return settings.MPESA_CALLBACK_BASE_URL.rstrip("/") + reverse(name)


# Temporary: the Intersend and IntaSend stand-ins are still in-process httpx transports (their
# callbacks, though, are POSTed over HTTP to this server). They move into the sandbox next.
@cache
def get_local_intersend() -> "LocalIntersend":
    from payments.providers.intersend_local import LocalIntersend

    return LocalIntersend(
        settings.LOCAL_PAYOUT_PATH.with_suffix(".intersend.sqlite3"),
        api_key=settings.INTERSEND_API_KEY,
        api_secret=settings.INTERSEND_API_SECRET,
        callback_url=_our_url("intersend-payout-callback"),
    )


@cache
def get_local_intasend() -> "LocalIntasend":
    from payments.providers.intasend_local import LocalIntasend

    return LocalIntasend(
        settings.LOCAL_PAYOUT_PATH.with_suffix(".intasend.sqlite3"),
        secret_key=settings.INTASEND_SECRET_KEY,
        challenge=settings.INTASEND_WEBHOOK_CHALLENGE,
        callback_url=_our_url("intasend-payout-callback"),
    )


@cache
def get_payout_provider() -> PayoutProvider:
    if settings.PAYOUT_PROVIDER == "intersend":
        from payments.providers.intersend import IntersendProvider

        local = settings.INTERSEND_API_URL == "local"
        return IntersendProvider(
            "https://intersend.local" if local else settings.INTERSEND_API_URL,
            settings.INTERSEND_API_KEY,
            settings.INTERSEND_API_SECRET,
            transport=get_local_intersend() if local else None,
        )
    if settings.PAYOUT_PROVIDER == "intasend":
        from payments.payouts import PayoutRequestRecords
        from payments.providers.intasend import IntasendProvider

        local = settings.INTASEND_API_URL == "local"
        return IntasendProvider(
            "https://intasend.local" if local else settings.INTASEND_API_URL,
            settings.INTASEND_SECRET_KEY,
            PayoutRequestRecords(),
            transport=get_local_intasend() if local else None,
        )
    if settings.PAYOUT_PROVIDER == "mpesa_b2c":
        from payments.daraja import callback_url, get_daraja
        from payments.providers.mpesa_b2c import MpesaB2CProvider

        return MpesaB2CProvider(
            get_daraja(),
            result_url=callback_url("mpesa-b2c-result"),
            timeout_url=callback_url("mpesa-b2c-timeout"),
            status_url=callback_url("mpesa-b2c-status"),
        )
    raise ImproperlyConfigured(f"Unknown PAYOUT_PROVIDER {settings.PAYOUT_PROVIDER!r}")


__all__ = [
    "PayoutProvider",
    "PayoutResult",
    "PayoutUnavailable",
    "get_local_intasend",
    "get_payout_provider",
]
