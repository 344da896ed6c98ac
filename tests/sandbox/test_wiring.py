"""How the app finds the sandbox: MPESA_ENV=local is its real Daraja client with SANDBOX_URL as
the base URL (nothing else differs from production), and the health probe asks it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from mpesa.daraja import get_daraja, sandbox_health
from mpesa.daraja.client import BASE_URLS


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ("local", "http://127.0.0.1:8002"),
        ("sandbox", BASE_URLS["sandbox"]),
        ("production", BASE_URLS["production"]),
    ],
)
def test_only_the_base_url_differs(settings, env, base):
    settings.MPESA_ENV = env
    settings.SANDBOX_URL = "http://127.0.0.1:8002"
    get_daraja.cache_clear()
    client = get_daraja()
    assert client.config.base_url == base
    assert client.http._transport.__class__.__name__ == "HTTPTransport"  # no special transport


def test_an_unknown_environment_is_refused(settings):
    settings.MPESA_ENV = "staging"
    get_daraja.cache_clear()
    with pytest.raises(ImproperlyConfigured):
        get_daraja()


def test_the_health_probe_asks_the_sandbox_only_when_it_is_used(settings, outside_world):
    assert sandbox_health() == "ok"
    outside_world.real_sandbox = True  # no sandbox in this process: the network has none either
    settings.SANDBOX_URL = "http://sandbox.invalid:8002"
    assert sandbox_health().startswith("error: ConnectError")
    settings.MPESA_ENV = "production"
    assert sandbox_health() is None  # none of production's business
