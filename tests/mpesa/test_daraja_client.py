"""The Daraja client against the sandbox's Daraja, over HTTP: OAuth shared through the cache,
typed errors."""

import httpx
import pytest
from django.core.cache import cache

from mpesa.daraja import DarajaError, DarajaUnavailable, get_daraja
from mpesa.daraja.client import TOKEN_KEY, DarajaClient, DarajaConfig


def test_one_token_serves_every_call_until_it_nears_expiry(daraja):
    client = get_daraja()
    first = client.token()
    assert client.token() == first
    assert DarajaClient(client.config).token() == first  # another process
    cache.delete(TOKEN_KEY)  # what the cache does 2 minutes before the 3599 s run out
    second = client.token()
    assert second != first
    assert daraja.tokens() == [second]  # a new token invalidates the old


def test_a_refresh_in_progress_elsewhere_is_waited_for(daraja, monkeypatch):
    client = get_daraja()
    cache.add("daraja:token:refreshing", "1", timeout=30)  # another process holds the lock
    sleeps = []

    def other_process_finishes(seconds):
        sleeps.append(seconds)
        cache.set(TOKEN_KEY, "their-token", timeout=60)

    monkeypatch.setattr("mpesa.daraja.client.time.sleep", other_process_finishes)
    assert client.token() == "their-token"
    assert len(sleeps) == 1
    assert daraja.tokens() == []  # we never asked


def test_a_token_daraja_refuses_is_renewed_once(daraja, sandbox):
    client = get_daraja()
    cache.set(TOKEN_KEY, "stale", timeout=60)
    with pytest.raises(DarajaError) as err:
        client.stk_query(checkout_request_id="ws_CO_1")
    assert err.value.code == "400.002.02"  # through, with a new token; the id is unknown
    query = "/mpesa/stkpushquery/v1/query"
    seen = [(r["path"], r["status"], r["error_code"]) for r in sandbox.requests_seen("daraja")]
    assert seen == [
        (query, 401, "404.001.03"),
        ("/oauth/v1/generate", 200, ""),
        (query, 400, "400.002.02"),
    ]


def test_a_5xx_or_timeout_is_unavailable_not_an_error(daraja):
    daraja.faults.fail_requests = 1
    with pytest.raises(DarajaUnavailable):
        get_daraja().token()

    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    config = DarajaConfig("https://x", "k", "s", "600000", "p", "i", "c")
    with pytest.raises(DarajaUnavailable):
        DarajaClient(config, transport=httpx.MockTransport(timeout)).token()


def test_a_wrong_passkey_is_refused_by_daraja(daraja, sandbox):
    config = get_daraja().config
    wrong = DarajaClient(DarajaConfig(**{**config.__dict__, "passkey": "wrong"}))
    with pytest.raises((DarajaError, DarajaUnavailable)):
        wrong.stk_query(checkout_request_id="ws_CO_1")
    seen = sandbox.requests_seen("daraja")[-1]
    # Daraja's answer to a wrong STK password: HTTP 500, "Wrong credentials".
    assert (seen["path"], seen["status"], seen["error_code"]) == (
        "/mpesa/stkpushquery/v1/query",
        500,
        "500.001.1001",
    )


def test_urls_are_registered_with_the_token_never_printed(daraja, settings, capsys):
    from django.core.management import call_command

    settings.MPESA_CALLBACK_TOKEN = "s3cret-token"
    settings.MPESA_CALLBACK_BASE_URL = "https://api.kazi.example"
    call_command("mpesa_register_urls")
    registered = daraja.registration()
    assert registered["confirmation_url"] == (
        "https://api.kazi.example/api/callbacks/c2b/confirmation/?token=s3cret-token"
    )
    assert registered["validation_url"].startswith(
        "https://api.kazi.example/api/callbacks/c2b/validation/"
    )
    assert (registered["response_type"], registered["version"]) == ("Completed", 2)
    assert "s3cret-token" not in capsys.readouterr().out
