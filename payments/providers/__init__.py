from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.providers.base import PayoutProvider, PayoutResult, PayoutUnavailable


@cache
def get_payout_provider() -> PayoutProvider:
    if settings.PAYOUT_PROVIDER == "local":
        from payments.providers.local import LocalPayoutProvider

        return LocalPayoutProvider(settings.LOCAL_PAYOUT_PATH)
    raise ImproperlyConfigured(f"Unknown PAYOUT_PROVIDER {settings.PAYOUT_PROVIDER!r}")


__all__ = ["PayoutProvider", "PayoutResult", "PayoutUnavailable", "get_payout_provider"]
