"""Telling whether two reports of an M-Pesa payment can come from the same phone. The STK routes
and Transaction Status name the payer in full; the C2B confirmation's MSISDN is masked
(`2547 ***** 678`) or hashed (SHA-256 of `2547...`) by Safaricom. A report that shows nothing of
the number can neither confirm nor refute a match."""

import hashlib
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from accounts.phones import InvalidPhoneNumber, msisdn, normalise_phone

NAIROBI = ZoneInfo("Africa/Nairobi")
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_MASKED = re.compile(r"(\d*)\s*\*+\s*(\d*)")


def full_msisdn(reported: object) -> str | None:
    """`2547XXXXXXXX` if the report spells out a Kenyan mobile number (Transaction Status adds
    the name: `254712345678 - Jane Doe`), else None."""
    text = str(reported or "").split(" - ")[0].strip()
    if not text or "*" in text or _HASH.fullmatch(text):
        return None
    try:
        return msisdn(normalise_phone(text))
    except InvalidPhoneNumber:
        return None


def same_payer(known: object, reported: object) -> bool:
    """Whether `reported` (any form) can be the phone `known` (any form). False only when both
    show enough of the number to differ."""
    full, other = full_msisdn(known), str(reported or "").strip()
    if full is None:
        full, other = full_msisdn(reported), str(known or "").strip()
    if full is None or not other:
        return True  # neither spells the number out: nothing to compare
    if _HASH.fullmatch(other):
        return hashlib.sha256(full.encode()).hexdigest() == other.lower()
    if masked := _MASKED.fullmatch(other):
        head, tail = masked.groups()
        return full.startswith(head) and full.endswith(tail)
    return full_msisdn(other) in (None, full)


def mpesa_time(value: object) -> datetime | None:
    """M-Pesa's `YYYYMMDDHHMMSS` (TransTime, TransactionDate, InitiatedTime), Nairobi time."""
    try:
        return datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        return None
