"""Who may call our M-Pesa callbacks. Daraja signs nothing, so the source address is the check,
plus, when configured, a secret token in the URL we registered. X-Forwarded-For is believed only
when the request comes from a configured trusted proxy."""

import hmac
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest


def _in(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def source_address(request: HttpRequest) -> str | None:
    """The caller's address: REMOTE_ADDR, or, behind trusted proxies, the right-most
    X-Forwarded-For entry that is not one of them."""
    address = request.META.get("REMOTE_ADDR") or None
    if address and _in(address, settings.TRUSTED_PROXIES):
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([a for a in forwarded if a]):
            if not _in(hop, settings.TRUSTED_PROXIES):
                return hop
    return address


def mpesa_callback_refusal(request: HttpRequest, address: str | None) -> str | None:
    """Why this request may not be an M-Pesa callback, or None if it may."""
    if not address or not _in(address, settings.MPESA_CALLBACK_ALLOWED_IPS):
        return f"source {address} not allowed"
    expected = settings.MPESA_CALLBACK_TOKEN
    if expected and not hmac.compare_digest(request.GET.get("token", ""), expected):
        return "wrong or missing URL token"
    return None
