"""Escrow references: `ESCROW_` + 8 characters of Crockford's base-32 alphabet, the eighth a
Luhn mod 32 check character over the first seven, so a single mistyped character or two swapped
neighbours are caught before money is matched to the wrong job."""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
PREFIX = "ESCROW_"
BODY_LENGTH = 7
# Crockford's decoding is forgiving of the letters people confuse with digits.
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " _-.")


def check_character(body: str) -> str:
    """Luhn mod N (N = 32) over `body`, from the right, doubling every other value."""
    n = len(ALPHABET)
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        total += addend // n + addend % n
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


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
    body, check = code[:BODY_LENGTH], code[BODY_LENGTH]
    if check_character(body) != check:
        return None
    return f"{PREFIX}{code}"
