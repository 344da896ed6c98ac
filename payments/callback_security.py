"""Who may call our payment callbacks. Daraja callbacks are unsigned, so the source address is
the check; a proxy's X-Forwarded-For is not trusted here."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def source_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def mpesa_source_allowed(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.MPESA_CALLBACK_ALLOWED_IPS
    )
