"""The payout provider PAYOUT_PROVIDER names, through its real client. On the embedded default each
reaches the sandbox's stand-in over HTTP (`python -m sandbox`): only the base URL differs from
production."""

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payouts.providers.base import PayoutProvider, PayoutResult, PayoutUnavailable


@cache
def get_payout_provider() -> PayoutProvider:
    if settings.PAYOUT_PROVIDER == "intersend":
        from payouts.providers.intersend import IntersendProvider

        return IntersendProvider(
            settings.INTERSEND_API_URL,
            settings.INTERSEND_API_KEY,
            settings.INTERSEND_API_SECRET,
        )
    if settings.PAYOUT_PROVIDER == "intasend":
        from payouts.providers.intasend import IntasendProvider
        from payouts.providers.records import PayoutRequestRecords

        return IntasendProvider(
            settings.INTASEND_API_URL,
            settings.INTASEND_SECRET_KEY,
            PayoutRequestRecords(),
            device_id=settings.INTASEND_DEVICE_ID,
            device_private_key=settings.INTASEND_DEVICE_PRIVATE_KEY,
        )
    if settings.PAYOUT_PROVIDER == "mpesa_b2c":
        from mpesa.daraja import callback_url, get_daraja
        from payouts.providers.mpesa_b2c import MpesaB2CProvider

        return MpesaB2CProvider(
            get_daraja(),
            result_url=callback_url("mpesa-b2c-result"),
            timeout_url=callback_url("mpesa-b2c-timeout"),
            status_url=callback_url("mpesa-b2c-status"),
        )
    raise ImproperlyConfigured(f"Unknown PAYOUT_PROVIDER {settings.PAYOUT_PROVIDER!r}")


__all__ = ["PayoutProvider", "PayoutResult", "PayoutUnavailable", "get_payout_provider"]
