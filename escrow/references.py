"""Escrow references: `ESCROW_` + 8 characters of Crockford's base-32 alphabet, the eighth a check
character over the first seven, so any single mistyped character and any swap of two neighbours is
caught before money is matched to the wrong job.

The check is a weighted sum in GF(32) with weights x^7, x^6, ..., 1 (x a generator): a wrong
character changes the sum by x^k * e != 0, a swap of neighbours by x^k * e * (x + 1) != 0. Luhn
mod 32 would miss swapping "0" and "Z"."""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
PREFIX = "ESCROW_"
BODY_LENGTH = 7
# Crockford's decoding is forgiving of the letters people confuse with digits.
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " _-.")


_GF32_MODULUS = 0b100101  # x^5 + x^2 + 1, primitive


def _times_x(value: int) -> int:
    value <<= 1
    return value ^ _GF32_MODULUS if value & 0b100000 else value


def _weighted_sum(code: str) -> int:
    total = 0
    for char in code:
        total = _times_x(total) ^ ALPHABET.index(char)
    return total


def check_character(body: str) -> str:
    """The character that makes the weighted sum of body + check zero."""
    return ALPHABET[_times_x(_weighted_sum(body))]


def new_reference() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{PREFIX}{body}{check_character(body)}"


def normalise_reference(raw: str) -> str | None:
    """The canonical reference a payer meant, or None when it is not a valid reference.

    Accepts any case, spaces, a missing prefix or underscore; rejects a wrong check character."""
    code = raw.upper().translate(_SEPARATORS)
    if code.startswith("ESCROW"):
        code = code[len("ESCROW") :]
    code = code.translate(_CONFUSABLES)
    if len(code) != BODY_LENGTH + 1 or any(char not in ALPHABET for char in code):
        return None
    if _weighted_sum(code) != 0:
        return None
    return f"{PREFIX}{code}"
