"""What Daraja accepts in a request field, written here independently of the app's own checks so
that the sandbox catches the app's mistakes instead of sharing them. Numbers may come as JSON
numbers or strings (Safaricom's own samples send numbers); text fields must be strings."""

import ipaddress
import re
from urllib.parse import unquote_plus, urlsplit

MSISDN = re.compile(r"254(?:7\d|1[01])\d{7}")  # Safaricom lines: 2547..., 25410..., 25411...
# Register URL: "Avoid using keywords such as M-PESA, M-Pesa, Safaricom, exe, exec, cmd, SQL, query,
# or any of their variants in either upper or lower cases" (developer.safaricom.co.ke, Customer To
# Business Register URL). Matched anywhere in the URL, host and query included, as the strictest
# reading: M, any separators, PESA; exe also covers exec.
FORBIDDEN_WORDS = re.compile(r"m[\W_]*pesa|safaricom|exe|cmd|sql|query", re.IGNORECASE)
# "Do not use public URL testers e.g. ngrok, mockbin, or requestbin, especially on production".
URL_TESTERS = ("ngrok", "mockbin", "requestbin", "requestb.in", "webhook.site", "loca.lt")


def digits(value: object, shortest: int, longest: int) -> str | None:
    """A number of `shortest` to `longest` digits, sent as a JSON number or a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value if shortest <= len(value) <= longest else None
    return None


def whole_amount(value: object) -> int | None:
    """Whole shillings, sent as a JSON number (1500, 1500.0) or a string ("1500", "1500.00"):
    M-Pesa moves no cents."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\d{1,9}(?:\.0{1,2})?", value):
        return int(value.split(".")[0])
    return None


def msisdn(value: object) -> str | None:
    """A Safaricom number as M-Pesa writes it (2547XXXXXXXX), number or string."""
    text = digits(value, 12, 12)
    return text if text and MSISDN.fullmatch(text) else None


def text(value: object, shortest: int, longest: int) -> str | None:
    if isinstance(value, str) and shortest <= len(value) <= longest:
        return value
    return None


def optional_text(value: object, longest: int) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= longest)


def url_problem(value: object, *, production: bool) -> str | None:
    """Why a callback URL would not be accepted, or None. Everywhere: an absolute http(s) URL
    with a host. In production also: HTTPS only, a public host (no localhost, private or
    reserved addresses, no single-label names), and no public URL testers."""
    if not isinstance(value, str) or len(value) > 2048:
        return "not a URL"
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "not an absolute http(s) URL"
    if not production:
        return None
    if parts.scheme != "https":
        return "production URLs must be HTTPS"
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if not address.is_global:
            return f"{host} is not a public address"
    elif host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return f"{host} is not a public host"
    elif "." not in host:
        return f"{host} is not a public host name"
    if any(tester in host for tester in URL_TESTERS):
        return f"{host} is a public URL tester"
    return None


def register_url_problem(value: object, *, production: bool) -> str | None:
    """Register URL's rules: those of every callback URL, and none of Daraja's forbidden words."""
    if problem := url_problem(value, production=production):
        return problem
    text = str(value)
    for _ in range(3):  # M%2DPesa and M%252DPesa read M-Pesa
        text = unquote_plus(text)
    if found := FORBIDDEN_WORDS.search(text):
        return f"contains {found.group(0)!r}"
    return None
