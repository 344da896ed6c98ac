"""The providers as their documentation shows them: samples kept verbatim in
tests/fixtures/<provider>/*.json ({"source": page, "sample": ...}), and a Daraja client whose
HTTP is answered by respx, for tests of our clients and callbacks that need no stand-in."""

import json
from pathlib import Path

import httpx

from mpesa.daraja.client import BASE_URLS, DarajaClient, DarajaConfig

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC = "https://api.kazitrust.co.ke"  # where Safaricom reaches us in these tests
DARAJA = BASE_URLS["sandbox"]
OAUTH = "/oauth/v1/generate"
STK_PUSH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY = "/mpesa/stkpushquery/v1/query"
REGISTER = "/mpesa/c2b/v2/registerurl"
REVERSAL = "/mpesa/reversal/v1/request"
B2C = "/mpesa/b2c/v3/paymentrequest"
TRANSACTION_STATUS = "/mpesa/transactionstatus/v1/query"
CONSUMER_SECRET = "the-consumer-secret"


def sample(name: str) -> dict:
    """A documented sample, e.g. sample("daraja/b2c_result_success"): a fresh copy each time."""
    return json.loads((FIXTURES / f"{name}.json").read_text())["sample"]


def daraja_client(**changes: str) -> DarajaClient:
    config = DarajaConfig(
        base_url=DARAJA,
        consumer_key="the-consumer-key",
        consumer_secret=CONSUMER_SECRET,
        shortcode="600000",
        passkey="the-passkey",
        initiator_name="kazi-api",
        security_credential="the-security-credential",
        b2c_shortcode="3000000",
    )
    return DarajaClient(DarajaConfig(**{**config.__dict__, **changes}))


def token(value: str) -> httpx.Response:
    """Daraja's OAuth answer (daraja/oauth_token) for a token `value`."""
    return httpx.Response(200, json={**sample("daraja/oauth_token"), "access_token": value})


def daraja_error(status: int, code: str, message: str) -> httpx.Response:
    """An error in Daraja's documented shape (daraja/stk_push_error) with a code from its
    pages' error tables."""
    body = {**sample("daraja/stk_push_error"), "errorCode": code, "errorMessage": message}
    return httpx.Response(status, json=body)


def posted(request: httpx.Request) -> dict:
    """The JSON body of a request sent to a provider."""
    return json.loads(request.content)
