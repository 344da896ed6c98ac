"""Kenyan phone numbers, stored in E.164 (+2547XXXXXXXX): 0712..., 712..., 254712... and +254712...
are one number."""

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhoneNumber(ValueError):
    pass


def normalise_phone(raw: str) -> str:
    text = str(raw).strip()
    digits = text.lstrip("+")
    if digits.startswith("254") and not text.startswith("+"):
        text = "+" + digits  # 2547... is already international, just without the plus
    try:
        number = phonenumbers.parse(text, "KE")
    except NumberParseException:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number") from None
    if phonenumbers.region_code_for_number(number) != "KE" or not phonenumbers.is_valid_number(
        number
    ):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid Kenyan phone number")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidPhoneNumber(f"{raw!r} is not a Kenyan mobile number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def msisdn(e164: str) -> str:
    """The form mobile-money APIs want: 2547XXXXXXXX."""
    return e164.lstrip("+")
