"""The API's per-address limits (kazi.throttles, keyed by kazi.addresses.source_address), for the
pages' login and sign-up forms: one count per address for both, so neither doubles the limit."""

import math
from types import SimpleNamespace

from django.http import HttpRequest

from kazi.throttles import AddressRateThrottle


def address_wait(request: HttpRequest, scope: str) -> int | None:
    """None if this request from its address is within the `scope`'s rate (it is counted), else
    how many seconds to wait."""
    throttle = AddressRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    return math.ceil(throttle.wait() or 1)
