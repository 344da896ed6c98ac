"""The URLs Safaricom calls us back at, and the rules Daraja holds them to. Its Register URL page
(https://developer.safaricom.co.ke/apis/CustomerToBusinessRegisterURL, "URL Requirements";
they apply to every CallBackURL, ResultURL and QueueTimeOutURL too):

- no M-PESA, Safaricom, exe, exec, cmd, SQL or query, in any case or variant, anywhere;
- no public URL testers (ngrok, mockbin, requestbin): they are blocked;
- in production, HTTPS to a public host: Safaricom cannot reach localhost or a private address.

Every URL is built from MPESA_CALLBACK_BASE_URL and checked here before it is handed out;
`manage.py mpesa_register_urls` and the production system check apply the same rules."""

import ipaddress
import re
from urllib.parse import unquote_plus, urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

BANNED_WORDS = ("mpesa", "safaricom", "exe", "cmd", "sql", "query")  # "exe" covers "exec"
URL_TESTERS = ("ngrok", "mockbin", "requestb", "pipedream")  # requestbin lives on pipedream now
LOCAL_SUFFIXES = (".localhost", ".local", ".internal")
# The name of every URL we give Daraja: C2B, STK push, and the ResultURL and QueueTimeOutURL of
# B2C payments, Transaction Status queries (about payouts, and about money received) and
# reversals.
DARAJA_CALLBACKS = (
    "mpesa-c2b-confirmation",
    "mpesa-c2b-validation",
    "mpesa-stk-callback",
    "mpesa-b2c-result",
    "mpesa-b2c-timeout",
    "mpesa-b2c-status",
    "mpesa-status-result",
    "mpesa-reversal-result",
    "mpesa-reversal-timeout",
)


class CallbackUrlRefused(ImproperlyConfigured):
    """A callback URL Daraja would refuse: MPESA_CALLBACK_BASE_URL (or the token) must change."""


def _as_daraja_reads(text: str) -> str:
    """Decoded, in lower case, without separators: M-Pesa, m_pesa and M%2DPESA all read mpesa."""
    return re.sub(r"[^a-z0-9]", "", unquote_plus(text).lower())


def _public(host: str) -> bool:
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return False
    try:
        return ipaddress.ip_address(host).is_global  # not loopback, private, link-local, ...
    except ValueError:
        return "." in host  # a name without a dot is only known on its own network


def refusals(url: str, *, production: bool) -> list[str]:
    """Why Daraja would refuse `url` as a callback URL, one sentence per rule broken; empty if
    it would take it. Never quotes the query, which carries the URL token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        return ["is not an absolute http(s) URL"]
    found = [
        f"has {word!r} in its {where}, a word Daraja refuses in any case or spelling"
        for where, text in (("host", host), ("path", parts.path), ("query", parts.query))
        for word in BANNED_WORDS
        if word in _as_daraja_reads(text)
    ]
    if any(tester in host for tester in URL_TESTERS):
        found.append(f"is on a public URL tester ({host}), which Daraja blocks")
    if production and parts.scheme != "https":
        found.append("is http: Daraja's production calls only https URLs")
    if production and not _public(host):
        found.append(f"names {host}, which Safaricom cannot reach: the host must be public")
    return found


def without_token(url: str) -> str:
    """The URL as it may be shown or logged: its query carries the secret token."""
    return url.split("?")[0]


def unchecked_callback_url(name: str) -> str:
    """The public URL for `name`, with `?token=` when MPESA_CALLBACK_TOKEN is set."""
    url = settings.MPESA_CALLBACK_BASE_URL.rstrip("/") + reverse(name)
    if settings.MPESA_CALLBACK_TOKEN:
        url += "?" + urlencode({"token": settings.MPESA_CALLBACK_TOKEN})
    return url


def callback_url(name: str) -> str:
    """The URL Safaricom calls for `name`; CallbackUrlRefused if Daraja would refuse it."""
    url = unchecked_callback_url(name)
    if found := refusals(url, production=settings.MPESA_ENV == "production"):
        raise CallbackUrlRefused(f"{without_token(url)} ({name}): {'; '.join(found)}")
    return url


def every_refusal() -> list[str]:
    """What is wrong with each callback URL we would give Daraja, one message per URL."""
    found = []
    for name in DARAJA_CALLBACKS:
        try:
            callback_url(name)
        except CallbackUrlRefused as refused:
            found.append(str(refused))
    return found
