"""Django's client of the Stellar contract service: the key and idempotency headers it sends, what
it retries, and how the service's answers become the ledger port's outcomes."""

import httpx
import pytest
import respx
from stellar_sdk import MuxedAccount

from escrow.ledger import LedgerRejected, LedgerUnavailable
from escrow.ledger.service import ServiceLedger

URL = "http://stellar.test"
REF = "ESCROW_7KQ2M9XD"
PAYEE = "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS"
ESCROW = {
    "contract_id": REF,
    "status": "funded",
    "funder": PAYEE,
    "amount": 1000,
    "funded": 1000,
    "payee": PAYEE,
    "payee_id": 42,
    "released": 0,
    "fee": 0,
    "refunded": 0,
}


@pytest.fixture
def client():
    return ServiceLedger(URL, "the-key", backoff=0)


@respx.mock
def test_a_write_carries_the_api_key_and_its_idempotency_key(client):
    route = respx.post(f"{URL}/api/escrow/fund").respond(
        200, json={"contract_id": REF, "tx_hash": "ab" * 32, "escrow": ESCROW}
    )
    receipt = client.fund(reference=REF, amount=400, idempotency_key=f"{REF}:fund:T1")
    assert receipt.tx_hash == "ab" * 32
    request = route.calls.last.request
    assert request.headers["X-API-Key"] == "the-key"
    assert request.headers["Idempotency-Key"] == f"{REF}:fund:T1"
    assert request.read() == b'{"contract_id":"ESCROW_7KQ2M9XD","amount":400}'


@respx.mock
def test_transport_errors_and_503_are_retried_with_the_same_key(client):
    route = respx.post(f"{URL}/api/escrow/release").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503, json={"error": {"code": "unavailable", "message": "pending"}}),
            httpx.Response(200, json={"contract_id": REF, "tx_hash": "cd" * 32, "escrow": ESCROW}),
        ]
    )
    assert client.release(reference=REF, idempotency_key="k").tx_hash == "cd" * 32
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {"k"}
    assert route.call_count == 3


@respx.mock
def test_an_outcome_still_unknown_after_the_retries_is_unavailable(client):
    route = respx.post(f"{URL}/api/escrow/create").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(LedgerUnavailable, match="ReadTimeout"):
        client.create(reference=REF, amount=1000, idempotency_key="k")
    assert route.call_count == 3


@respx.mock
@pytest.mark.parametrize(
    ("status", "code"),
    [(409, "over_funded"), (404, "not_found"), (422, "invalid_amount"), (409, "closed")],
)
def test_a_contract_refusal_is_final_and_keeps_its_code(client, status, code):
    route = respx.post(f"{URL}/api/escrow/fund").respond(
        status, json={"error": {"code": code, "message": "no"}}
    )
    with pytest.raises(LedgerRejected) as refused:
        client.fund(reference=REF, amount=1, idempotency_key="k")
    assert refused.value.code == code
    assert route.call_count == 1  # a definite no is never retried


@respx.mock
def test_a_wrong_api_key_is_our_misconfiguration_so_the_work_waits(client):
    respx.post(f"{URL}/api/escrow/refund").respond(
        401, json={"error": {"code": "unauthorized", "message": "bad key"}}
    )
    with pytest.raises(LedgerUnavailable, match="401"):
        client.refund(reference=REF, idempotency_key="k")


@respx.mock
def test_get_shows_the_payee_as_it_was_assigned(client):
    respx.get(f"{URL}/api/escrow/{REF}").respond(200, json=ESCROW)
    escrow = client.get(REF)
    assert escrow.payee == MuxedAccount(PAYEE, 42).account_muxed
    assert (escrow.status, escrow.funded, escrow.released) == ("funded", 1000, 0)


@respx.mock
def test_health_reports_an_unreachable_service_without_raising(client):
    respx.get(f"{URL}/api/health").mock(side_effect=httpx.ConnectError("refused"))
    assert client.health().startswith("unavailable")
