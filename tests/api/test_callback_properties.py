"""Every provider callback, fed anything: arbitrary JSON (deep nesting, wrong types, nulls, huge
strings, non-JSON bytes) and the provider's real payloads with one field mutated. Whatever
arrives: no 5xx, an answer in the provider's own shape, the raw callback stored with an outcome,
and nothing credited twice."""

import json
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import OperationalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escrow.workflows import job_create
from mpesa.models import MpesaDeposit, ProviderCallback
from payouts.providers.intersend import sign
from tests.conftest import assert_books_balance, c2b_payload
from tests.factories import EmployerFactory

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
DEEP = st.integers(min_value=33, max_value=20_000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n])
)
HUGE = st.integers(min_value=70_000, max_value=300_000).map(lambda n: '{"a": "' + "x" * n + '"}')
GARBAGE = st.sampled_from(
    [b"", b"\x00\xff\xfe", b'{"a": NaN}', b"[1, 2", b'"\\ud800"', b'{"TransID": "A\\u0000B"}']
)
ODD_VALUES = (
    SCALARS
    | st.lists(SCALARS, max_size=2)
    | st.dictionaries(st.text(max_size=5), SCALARS, max_size=2)
    | st.just("x" * 5000)
)


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a payload a value sits at, as a path of keys and indexes."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutated(sample: dict) -> st.SearchStrategy[dict]:
    """The sample with one value (anywhere in it) replaced by something odd, or removed."""

    def apply(path: tuple, new: object, remove: bool) -> dict:
        body = json.loads(json.dumps(sample))
        *parents, last = path
        holder = body
        for step in parents:
            holder = holder[step]
        if remove and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = new
        return body

    return st.builds(apply, st.sampled_from(paths(sample)), ODD_VALUES, st.booleans())


def b2c_result(reference: str) -> dict:
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": reference,
            "ConversationID": "AG_20261123_00004e48cf7e3533f581",
            "TransactionID": "NLJ41HAY6Q",
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "TransactionAmount", "Value": 1500},
                    {"Key": "TransactionReceipt", "Value": "NLJ41HAY6Q"},
                    {"Key": "ReceiverPartyPublicName", "Value": "254708374149 - John Doe"},
                    {"Key": "TransactionCompletedDateTime", "Value": "23.11.2026 10:15:00"},
                ]
            },
            "ReferenceData": {
                "ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://x/timeout"}
            },
        }
    }


def status_result() -> dict:
    return {
        "Result": {
            "ConversationID": "AG_20180223_0000493344ae97d86f75",
            "OriginatorConversationID": "3213-416199-2",
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}},
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "DebitPartyName", "Value": "254708374149 - John Doe"},
                    {"Key": "ReceiptNo", "Value": "MBN31H462N"},
                    {"Key": "TransactionReason"},
                    {"Key": "TransactionStatus", "Value": "Completed"},
                    {"Key": "Amount", "Value": 300},
                    {"Key": "InitiatedTime", "Value": 20180223054112},
                ]
            },
            "ResultType": 0,
            "TransactionID": "MBN0000000",
        }
    }


def stk_callback() -> dict:
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 1.0},
                        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                        {"Name": "TransactionDate", "Value": 20191219102115},
                        {"Name": "PhoneNumber", "Value": 254708374149},
                    ]
                },
            }
        }
    }


def daraja_shaped(body: dict) -> bool:
    return set(body) == {"ResultCode", "ResultDesc"}


def plain_shaped(body: dict) -> bool:
    return body == {"received": True} or isinstance(body.get("detail"), str)


def intersend_headers(raw: bytes) -> dict:
    stamp = str(int(time.time()))
    return {
        "HTTP_X_TIMESTAMP": stamp,
        "HTTP_X_SIGNATURE": sign("local-intersend-secret", stamp, raw),
    }


class Endpoint:
    def __init__(
        self,
        url: str,
        sample: Callable[[str], dict],
        shaped: Callable[[dict], bool] = daraja_shaped,
        headers: Callable[[bytes], dict] = lambda raw: {},
    ) -> None:
        self.url, self.sample, self.shaped, self.headers = url, sample, shaped, headers


ENDPOINTS = {
    "c2b_confirmation": Endpoint(
        "/api/callbacks/mpesa/deposit/", lambda ref: c2b_payload(ref, "500.00", "RKTQDM7W6S")
    ),
    "c2b_validation": Endpoint(
        "/api/callbacks/c2b/validation/", lambda ref: c2b_payload(ref, "500.00")
    ),
    "stk": Endpoint("/api/callbacks/stk/", lambda ref: stk_callback()),
    "reversal_result": Endpoint("/api/callbacks/reversal/result/", lambda ref: b2c_result(ref)),
    "reversal_timeout": Endpoint("/api/callbacks/reversal/timeout/", lambda ref: b2c_result(ref)),
    "transaction_status": Endpoint(
        "/api/callbacks/transaction-status/result/", lambda ref: status_result()
    ),
    "b2c_result": Endpoint("/api/callbacks/b2c/result/", lambda ref: b2c_result("PAYOUT_X")),
    "b2c_timeout": Endpoint("/api/callbacks/b2c/timeout/", lambda ref: b2c_result("PAYOUT_X")),
    "b2c_status": Endpoint("/api/callbacks/b2c/status/", lambda ref: status_result()),
    "intersend": Endpoint(
        "/api/callbacks/intersend/payout/",
        lambda ref: {"reference": "PAYOUT_X", "status": "completed", "transaction_id": "IS1"},
        plain_shaped,
        intersend_headers,
    ),
    "intasend": Endpoint(
        "/api/callbacks/intasend/payout/",
        lambda ref: {
            "challenge": "local-intasend-challenge",
            "tracking_id": "f89r8b57",
            "status_code": "BC100",
            "transactions": [{"status_code": "TS100", "provider_reference": "R1"}],
        },
        plain_shaped,
    ),
}


def bodies(endpoint: Endpoint, reference: str) -> st.SearchStrategy[bytes]:
    sample = endpoint.sample(reference)
    as_json = st.one_of(JSON, mutated(sample), st.just(sample)).map(
        lambda v: json.dumps(v).encode()
    )
    return st.one_of(as_json, as_json, DEEP.map(str.encode), HUGE.map(str.encode), GARBAGE)


@pytest.fixture
def escrow_reference(db) -> str:
    job = job_create(
        employer=EmployerFactory(), title="Paint", description="Walls", budget=Decimal("1000")
    )
    return job.escrow.contract_id


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_any_body_gets_the_providers_answer_and_a_recorded_outcome(
    client, escrow_reference, django_capture_on_commit_callbacks, name
):
    endpoint = ENDPOINTS[name]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(raw=bodies(endpoint, escrow_reference))
    def check(raw: bytes) -> None:
        before = ProviderCallback.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST", endpoint.url, raw, content_type="application/json", **endpoint.headers(raw)
            )
        assert response.status_code < 500, response.content[:300]
        assert endpoint.shaped(response.json()), response.content[:300]
        stored = ProviderCallback.objects.order_by("-pk")
        if name == "c2b_validation":  # read-only: answered and logged, nothing stored
            assert stored.count() == before
        else:
            assert stored.count() == before + 1
            assert stored.first().outcome, "a callback left without an outcome"
        receipts = Counter(MpesaDeposit.objects.values_list("transaction_reference", flat=True))
        assert all(n == 1 for n in receipts.values())
        assert_books_balance()

    check()


def test_a_callback_whose_processing_fails_keeps_its_outcome(client, escrow_reference, monkeypatch):
    """Whatever breaks mid-way (here the database refusing the deposit), the raw callback stays
    with an outcome saying so, the effect is rolled back, and Daraja gets its own answer."""

    def broken(**kwargs):
        raise OperationalError("could not serialize access")

    monkeypatch.setattr("mpesa.deposits.deposit_confirm", broken)
    body = json.dumps(c2b_payload(escrow_reference, "500.00"))
    response = client.post("/api/callbacks/mpesa/deposit/", body, content_type="application/json")
    assert response.status_code == 503
    assert response.json() == {"ResultCode": "1", "ResultDesc": "Temporarily unable to process"}
    stored = ProviderCallback.objects.get()
    assert stored.outcome == "error: OperationalError: could not serialize access"
    assert stored.body == body
    assert not MpesaDeposit.objects.exists()
