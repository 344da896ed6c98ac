"""Money, phone numbers, statuses and ledger links as the pages show them."""

from decimal import Decimal

import phonenumbers
from django import template
from django.conf import settings
from django.utils import formats

from kazi.money import grouped
from web import labels

register = template.Library()


@register.filter
def kes(value: Decimal | int | None) -> str:
    """KES 1,500.00, in the active language's format (kazi/formats/sw: the same in Kiswahili)."""
    if value is None or value == "":
        return ""
    return f"KES\u00a0{grouped(Decimal(value))}"


@register.filter
def local_phone(e164: str) -> str:
    """+254712345678 as Kenyans write it: 0712 345 678."""
    try:
        number = phonenumbers.parse(e164, "KE")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@register.filter
def label(value: str, kind: str) -> str:
    return labels.label(kind, value)


@register.filter
def stk_result(code: str) -> str:
    return labels.stk_result(code)


@register.filter
def explorer_url(tx_hash: str) -> str:
    """The transaction on a public explorer of the network, or "" (the embedded default)."""
    pattern = settings.STELLAR_EXPLORER_TX_URL
    if not pattern or not tx_hash:
        return ""
    return pattern.replace("{tx_hash}", tx_hash) if "{tx_hash}" in pattern else pattern + tx_hash


@register.filter
def stars(average: Decimal | float | None) -> str:
    """A rating as plain text that reads well aloud and on a small screen: "4.5 / 5"."""
    if average is None:
        return ""
    shown = formats.number_format(Decimal(str(average)), 1, use_l10n=True)
    return f"{shown}\u00a0/\u00a05"


@register.simple_tag
def ussd_code() -> str:
    return settings.USSD_SERVICE_CODE
