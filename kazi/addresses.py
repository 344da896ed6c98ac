"""The caller's network address. X-Forwarded-For is whatever the caller chose to write, so it is
believed only when the request comes from one of our own proxies (settings.TRUSTED_PROXIES)."""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


def in_networks(address: str, networks: Iterable[str]) -> bool:
    """Whether `address` is one of `networks` (addresses or CIDR networks); False if not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _parsed(tuple(networks)))


@lru_cache(maxsize=16)
def _parsed(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The settings' lists, parsed once per process (every callback checks its caller)."""
    return tuple(ipaddress.ip_network(net, strict=False) for net in networks)


def source_address(request: HttpRequest) -> str | None:
    """The caller's address: REMOTE_ADDR, or, behind trusted proxies, the right-most
    X-Forwarded-For entry that is not one of them (entries to its left are the caller's own)."""
    address = request.META.get("REMOTE_ADDR") or None
    if address and in_networks(address, settings.TRUSTED_PROXIES):
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([a for a in forwarded if a]):
            if not in_networks(hop, settings.TRUSTED_PROXIES):
                return hop
    return address
