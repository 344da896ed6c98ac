"""Who may call our M-Pesa callbacks. Daraja signs nothing, so the source address is the check,
plus, when configured, a secret token in the URL we registered. X-Forwarded-For is believed only
when the request comes from a configured trusted proxy."""

import hmac

from django.conf import settings
from django.http import HttpRequest

from kazi.addresses import in_networks


def mpesa_callback_refusal(request: HttpRequest, address: str | None) -> str | None:
    """Why this request may not be an M-Pesa callback, or None if it may."""
    if not address or not in_networks(address, settings.MPESA_CALLBACK_ALLOWED_IPS):
        return f"source {address} not allowed"
    expected = settings.MPESA_CALLBACK_TOKEN
    if expected and not hmac.compare_digest(request.GET.get("token", ""), expected):
        return "wrong or missing URL token"
    return None
