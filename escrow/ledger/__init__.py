from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from escrow.ledger.base import (
    Ledger,
    LedgerEscrow,
    LedgerReceipt,
    LedgerRejected,
    LedgerUnavailable,
)


@cache
def get_ledger() -> Ledger:
    """The Stellar contract service over HTTP when configured (production requires it); on the
    embedded default the sandbox's: the same service with its local backend, in-process."""
    if settings.STELLAR_CONTRACT_SERVICE_URL:
        from escrow.ledger.service import ServiceLedger

        return ServiceLedger(
            settings.STELLAR_CONTRACT_SERVICE_URL,
            settings.STELLAR_CONTRACT_API_KEY,
            timeout=settings.STELLAR_SERVICE_TIMEOUT,
        )
    # By name: production, which has a service URL, never imports the sandbox.
    return import_string("sandbox.ledger.InProcessLedger")(settings.LOCAL_LEDGER_PATH)


__all__ = [
    "Ledger",
    "LedgerEscrow",
    "LedgerReceipt",
    "LedgerRejected",
    "LedgerUnavailable",
    "get_ledger",
]
