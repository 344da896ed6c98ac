"""Money: KES amounts are Decimal with 2 places; on chain they are integers of the token's smallest
unit (7 decimals, as every Stellar asset). These are the only conversions."""

from decimal import Decimal, InvalidOperation

from django.utils import formats

KES_PLACES = Decimal("0.01")
CHAIN_DECIMALS = 7
CHAIN_UNITS_PER_KES = 10**CHAIN_DECIMALS
MAX_MPESA_TRANSACTION = Decimal("250000.00")
MIN_MPESA_PAYOUT = Decimal("10")  # B2C's and IntaSend's smallest transfer
MAX_BUDGET = Decimal("10000000.00")


class MoneyError(ValueError):
    pass


def kes(value: str | int | Decimal) -> Decimal:
    """Parse an amount of KES exactly. Floats are refused: they cannot hold 0.10 exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MoneyError(
            f"an amount must be a string, integer or Decimal, not {type(value).__name__}"
        )
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    if amount != amount.quantize(KES_PLACES):
        raise MoneyError(f"{value!r} has more than 2 decimal places")
    return amount.quantize(KES_PLACES)


def to_chain(amount: Decimal) -> int:
    """KES 1,500.00 -> 15_000_000_000 (i128 on chain)."""
    return int(kes(amount) * CHAIN_UNITS_PER_KES)


def from_chain(units: int) -> Decimal:
    """The inverse of `to_chain`; refuses units that are not a whole number of cents."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise MoneyError("on-chain amounts are integers")
    cents, remainder = divmod(units, CHAIN_UNITS_PER_KES // 100)
    if remainder:
        raise MoneyError(f"{units} units is not a whole number of cents")
    return (Decimal(cents) / 100).quantize(KES_PLACES)


def grouped(amount: Decimal) -> str:
    """1,500.00: an amount as the active language writes it (the same in Kiswahili)."""
    return formats.number_format(amount, 2, use_l10n=True, force_grouping=True)


def kes_shown(amount: Decimal) -> str:
    """KES 1,500.00, as the messages and the admin write amounts."""
    return "KES " + grouped(amount)
