"""The sandbox's Intersend (the seed's API under /intersend) is strict on keys, signatures and
timestamps, refuses payouts mobile money could not make, pays a reference once, and signs each
callback as it leaves. Requests come from a plain httpx client that signs as the seed says."""

import hashlib
import hmac
import json
import time

import httpx
import pytest

from tests.rails import sample

KEY, SECRET = "local-intersend-key", "local-intersend-secret"
SEND = "/intersend/payouts/send"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class Client:
    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.http = httpx.Client(transport=transport, base_url="http://127.0.0.1:8002")

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str = KEY,
        secret: str = SECRET,
        skew: int = 0,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else (json.dumps(body).encode() if body else b"")
        stamp = str(int(time.time()) + skew)
        signed = {
            "X-API-Key": key,
            "X-Timestamp": stamp,
            "X-Signature": signature(secret, stamp, content),
            "Content-Type": "application/json",
        }
        if headers is not None:
            signed = headers
        return self.http.request(method, path, content=content, headers=signed)

    def send(self, **changes: object) -> httpx.Response:
        payout = {
            "phone_number": "254712345678",
            "amount": "1500.00",
            "currency": "KES",
            "reference": "PAYOUT_7KQ2M9XD",
            **changes,
        }
        return self.request("POST", SEND, payout)

    def status(self, reference: str = "PAYOUT_7KQ2M9XD") -> httpx.Response:
        return self.request("GET", f"/intersend/payouts/{reference}")


@pytest.fixture
def intersend(sandbox):
    sandbox.intersend._callback_control({"url": "http://127.0.0.1:9/news"})  # nobody there
    return sandbox.intersend


@pytest.fixture
def client(sandbox, intersend) -> Client:
    return Client(sandbox)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ({"key": "wrong"}, "invalid API key"),
        ({"key": ""}, "invalid API key"),
        ({"secret": "wrong"}, "invalid signature"),
        ({"skew": -301}, "stale timestamp: more than 300 seconds from now"),
        ({"skew": 301}, "stale timestamp: more than 300 seconds from now"),
        ({"headers": {"X-API-Key": KEY}}, "missing signature"),
        ({"headers": {"X-API-Key": KEY, "X-Timestamp": "soon", "X-Signature": "ab"}}, None),
    ],
)
def test_a_request_not_signed_as_agreed_is_refused(client, intersend, how, message):
    answer = client.request("POST", SEND, {"reference": "PAYOUT_1"}, **how)
    assert answer.status_code == 401
    assert answer.json() == {"error": message or "invalid timestamp"}
    assert intersend.payouts() == []


def test_a_body_changed_after_signing_is_refused(client, intersend):
    body = json.dumps({"reference": "PAYOUT_1"}).encode()
    stamp = str(int(time.time()))
    headers = {
        "X-API-Key": KEY,
        "X-Timestamp": stamp,
        "X-Signature": signature(SECRET, stamp, body),
    }
    answer = client.http.post(SEND, content=body.replace(b"1", b"2"), headers=headers)
    assert answer.json() == {"error": "invalid signature"}


def test_a_timestamp_within_five_minutes_is_taken(client):
    assert client.send(reference="PAYOUT_A").status_code == 202
    assert client.request("GET", "/intersend/payouts/PAYOUT_A", skew=-299).status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"phone_number": "0712345678"}, "phone_number must be a Safaricom number"),
        ({"phone_number": 254712345678}, "phone_number must be a Safaricom number"),
        ({"currency": "USD"}, "currency must be KES"),
        ({"amount": 1500}, 'amount must be a string like "1500.00"'),
        ({"amount": "1500"}, 'amount must be a string like "1500.00"'),
        ({"amount": "1500.50"}, "amount must be whole shillings"),
        ({"amount": "9.00"}, "amount must be from 10 to 250,000"),
        ({"amount": "250001.00"}, "amount must be from 10 to 250,000"),
        ({"reference": "PAYOUT 1"}, "reference must be 1 to 40"),
        ({"reference": None}, "reference must be 1 to 40"),
    ],
)
def test_a_payout_mobile_money_could_not_make_is_refused(client, intersend, changes, message):
    answer = client.send(**changes)
    assert answer.status_code == 422
    assert answer.json()["error"].startswith(message)
    assert intersend.payouts() == []


def test_paths_methods_and_bodies(client):
    assert client.request("GET", "/intersend/payouts").status_code == 404
    assert client.request("GET", SEND).status_code == 405
    assert client.request("DELETE", "/intersend/payouts/PAYOUT_1").status_code == 405
    assert client.request("POST", SEND, raw=b"[1, 2]").json() == {
        "error": "the body must be a JSON object"
    }
    assert client.status("PAYOUT_NEVER").json() == {"error": "unknown reference"}


def test_the_seeds_documented_request_is_taken_as_it_is(client, intersend):
    documented = sample("intersend/send_request")
    answer = client.request("POST", SEND, documented)
    assert answer.status_code == 202, answer.text
    assert {k: answer.json()[k] for k in documented} == documented


def test_a_reference_is_paid_once(client, intersend):
    first = client.send()
    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    again = client.send()
    assert again.status_code == 200
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    other = client.send(amount="2000.00")
    assert (other.status_code, other.json()) == (
        409,
        {"error": "reference already used with other details"},
    )
    assert len(intersend.payouts()) == 1


def test_the_payout_moves_on_and_every_change_is_called_back_signed_as_it_leaves(
    client, sandbox, intersend, monkeypatch
):
    sent: list[httpx.Request] = []

    def listener(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"received": True})

    monkeypatch.setattr(
        sandbox.deliveries, "http", httpx.Client(transport=httpx.MockTransport(listener))
    )
    client.send()
    assert [json.loads(r.content)["status"] for r in sent] == ["processing", "completed"]
    for request in sent:
        stamp = request.headers["X-Timestamp"]
        assert abs(time.time() - int(stamp)) < 5
        assert request.headers["X-Signature"] == signature(SECRET, stamp, request.content)
        assert request.headers["X-API-Key"] == KEY
        assert str(request.url) == "http://127.0.0.1:9/news"
    done = client.status().json()
    assert set(done) >= {"reference", "status", "transaction_id", "failure_reason"}
    assert (done["status"], done["failure_reason"]) == ("completed", "")


def test_fault_switches(client, sandbox, intersend):
    intersend.faults.rate_limit = 1
    busy = client.send()
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "30")
    intersend.faults.fail_requests = 1
    assert client.send().status_code == 503
    intersend.faults.reject = 1
    assert client.send().json() == {"error": "insufficient float"}
    intersend.faults.lose_answers = 1
    with pytest.raises(httpx.ReadTimeout):
        client.send()
    assert client.status().json()["status"] == "completed"  # carried out all the same
    intersend.faults.fail_later = 1
    intersend.faults.hold_callbacks = True
    client.send(reference="PAYOUT_B")
    failed = client.status("PAYOUT_B").json()
    assert (failed["status"], failed["failure_reason"]) == (
        "failed",
        "The recipient's mobile money account cannot receive this payment.",
    )
    held = [d for d in sandbox.deliveries.recent(20) if d["status"] == "held"]
    assert [d["body"]["status"] for d in reversed(held)] == ["processing", "failed"]
