from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from escrow.ledger.base import (
    Ledger,
    LedgerEscrow,
    LedgerReceipt,
    LedgerRejected,
    LedgerUnavailable,
)


@cache
def get_ledger() -> Ledger:
    if settings.LEDGER_BACKEND == "local":
        from escrow.ledger.local import LocalLedger

        return LocalLedger(settings.LOCAL_LEDGER_PATH)
    raise ImproperlyConfigured(f"Unknown LEDGER_BACKEND {settings.LEDGER_BACKEND!r}")


__all__ = [
    "Ledger",
    "LedgerEscrow",
    "LedgerReceipt",
    "LedgerRejected",
    "LedgerUnavailable",
    "get_ledger",
]
