"""Rate limits per client address, the address taken as kazi.addresses decides it."""

from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle

from kazi.addresses import source_address


class AddressRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle (the view's `throttle_scope` and its rate), keyed by the caller's
    address. DRF's own get_ident believes any X-Forwarded-For (with NUM_PROXIES unset), so a
    new made-up header on every request escaped the limit."""

    def get_ident(self, request: Request) -> str | None:
        return source_address(request)
