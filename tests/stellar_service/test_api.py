"""Every endpoint over HTTP: the happy paths, every contract error (and nothing changed), and bad
input refused with a JSON error before anything is recorded or sent."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from stellar_service.app import create_app
from stellar_service.backends.local import LocalBackend
from stellar_service.config import (
    LOCAL_CONTRACT_ADDRESS,
    LOCAL_FEE_ACCOUNT,
    LOCAL_FUNDER_ACCOUNT,
    Config,
)
from stellar_service.service import I128_MAX
from tests.stellar_service.conftest import (
    API_KEY,
    OTHER_REF,
    REF,
    WORKER,
    WORKER_MUXED,
    Api,
    world,
)

ESCROW_FIELDS = {
    "contract_id", "status", "funder", "amount", "funded", "payee", "payee_id", "released",
    "fee", "refunded",
}  # fmt: skip


def test_create_fund_assign_release(api: Api, backend: LocalBackend) -> None:
    float_before = backend.balance(LOCAL_FUNDER_ACCOUNT)
    created = api.ok("create", {"contract_id": REF, "amount": 10_001})
    assert set(created) == {"contract_id", "tx_hash", "escrow"}
    assert created["contract_id"] == REF
    assert re.fullmatch("[0-9a-f]{64}", created["tx_hash"])
    assert set(created["escrow"]) == ESCROW_FIELDS
    assert created["escrow"] | {} == {
        "contract_id": REF, "status": "funding", "funder": LOCAL_FUNDER_ACCOUNT, "amount": 10_001,
        "funded": 0, "payee": None, "payee_id": None, "released": 0, "fee": 0, "refunded": 0,
    }  # fmt: skip

    first = api.ok("fund", {"contract_id": REF, "amount": 4_000})
    assert (first["escrow"]["status"], first["escrow"]["funded"]) == ("funding", 4_000)
    second = api.ok("fund", {"contract_id": REF, "amount": 6_001})
    assert (second["escrow"]["status"], second["escrow"]["funded"]) == ("funded", 10_001)
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == 10_001

    assigned = api.ok("assign", {"contract_id": REF, "payee": WORKER_MUXED})
    assert (assigned["escrow"]["payee"], assigned["escrow"]["payee_id"]) == (WORKER, 42)

    released = api.ok("release", {"contract_id": REF})["escrow"]
    # 2.5 % of 10,001 is 250.025: the fee is rounded down, the payee gets the rest.
    assert (released["status"], released["fee"], released["released"]) == ("released", 250, 9_751)
    assert api.get() == released
    assert backend.balance(WORKER) == 9_751
    assert backend.balance(LOCAL_FEE_ACCOUNT) == 250
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == 0
    assert backend.balance(LOCAL_FUNDER_ACCOUNT) == float_before - 10_001


def test_create_with_an_explicit_funder(api: Api) -> None:
    escrow = api.ok("create", {"contract_id": REF, "amount": 5, "funder": WORKER})["escrow"]
    assert escrow["funder"] == WORKER


def test_refund_returns_what_was_funded(api: Api, backend: LocalBackend) -> None:
    float_before = backend.balance(LOCAL_FUNDER_ACCOUNT)
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    api.ok("fund", {"contract_id": REF, "amount": 300})
    refunded = api.ok("refund", {"contract_id": REF})["escrow"]
    assert (refunded["status"], refunded["refunded"], refunded["released"]) == ("refunded", 300, 0)
    assert backend.balance(LOCAL_FUNDER_ACCOUNT) == float_before
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == 0


def test_dispute_then_resolve_splits_without_a_fee(api: Api, backend: LocalBackend) -> None:
    float_before = backend.balance(LOCAL_FUNDER_ACCOUNT)
    api.funded(amount=1_000)
    assert api.ok("dispute", {"contract_id": REF})["escrow"]["status"] == "disputed"
    body = {"contract_id": REF, "to_payee": 700, "to_funder": 300}
    resolved = api.ok("resolve", body)["escrow"]
    assert (resolved["status"], resolved["released"], resolved["refunded"], resolved["fee"]) == (
        "resolved", 700, 300, 0,
    )  # fmt: skip
    assert backend.balance(WORKER) == 700
    assert backend.balance(LOCAL_FUNDER_ACCOUNT) == float_before - 700


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/api/health", headers={"X-API-Key": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": "local", "escrows": 0}


def test_openapi_documents_examples_and_the_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    fund = schema["paths"]["/api/escrow/fund"]["post"]
    assert fund["security"] == [{"ApiKey": []}]
    assert any(p["name"] == "Idempotency-Key" for p in fund["parameters"])
    assert schema["components"]["schemas"]["FundBody"]["examples"][0]["contract_id"] == REF
    assert "security" not in schema["paths"]["/api/health"]["get"]
    assert client.get("/docs").status_code == 200


# --- every contract error through HTTP: the documented status and code, nothing changed, and
# the answer is recorded (a replay gives it again, still without touching the chain).


def created(api: Api) -> None:
    api.ok("create", {"contract_id": REF, "amount": 10_000})


def partly_funded(api: Api) -> None:
    created(api)
    api.ok("fund", {"contract_id": REF, "amount": 4_000})


def funded(api: Api) -> None:
    api.funded()


def funded_without_payee(api: Api) -> None:
    api.funded(payee=None)


def released(api: Api) -> None:
    api.funded()
    api.ok("release", {"contract_id": REF})


def disputed(api: Api) -> None:
    api.funded()
    api.ok("dispute", {"contract_id": REF})


def disputed_without_payee(api: Api) -> None:
    api.funded(payee=None)
    api.ok("dispute", {"contract_id": REF})


CONTRACT_ERROR_CASES = [
    ("not_found", 404, created, "fund", {"contract_id": OTHER_REF, "amount": 5}),
    ("not_found", 404, created, "release", {"contract_id": OTHER_REF}),
    ("already_exists", 409, funded, "create", {"contract_id": REF, "amount": 5}),
    ("over_funded", 409, partly_funded, "fund", {"contract_id": REF, "amount": 6_001}),
    ("not_funding", 409, funded, "fund", {"contract_id": REF, "amount": 1}),
    ("not_funded", 409, partly_funded, "release", {"contract_id": REF}),
    ("not_funded", 409, partly_funded, "dispute", {"contract_id": REF}),
    ("no_payee", 409, funded_without_payee, "release", {"contract_id": REF}),
    ("no_payee", 409, disputed_without_payee, "resolve",
     {"contract_id": REF, "to_payee": 1, "to_funder": 9_999}),
    ("closed", 409, released, "refund", {"contract_id": REF}),
    ("closed", 409, released, "release", {"contract_id": REF}),
    ("closed", 409, released, "assign", {"contract_id": REF, "payee": WORKER}),
    ("not_disputed", 409, funded, "resolve",
     {"contract_id": REF, "to_payee": 10_000, "to_funder": 0}),
    ("invalid_split", 422, disputed, "resolve",
     {"contract_id": REF, "to_payee": 5_000, "to_funder": 4_999}),
    ("invalid_split", 422, disputed, "resolve",
     {"contract_id": REF, "to_payee": -1, "to_funder": 10_001}),
    ("in_dispute", 409, disputed, "assign", {"contract_id": REF, "payee": WORKER}),
    ("in_dispute", 409, disputed, "release", {"contract_id": REF}),
    ("in_dispute", 409, disputed, "refund", {"contract_id": REF}),
    ("in_dispute", 409, disputed, "dispute", {"contract_id": REF}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "status", "setup", "operation", "body"),
    CONTRACT_ERROR_CASES,
    ids=[f"{case[0]}-{case[3]}" for case in CONTRACT_ERROR_CASES],
)
def test_contract_errors_change_nothing(
    api: Api, backend: LocalBackend, code, status, setup, operation, body
) -> None:
    setup(api)
    escrow, chain = api.get(), world(backend)
    response = api.post(operation, body, key="the-refused-one")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert api.get() == escrow
    assert world(backend) == chain
    calls = len(backend.calls)
    again = api.post(operation, body, key="the-refused-one")
    assert (again.status_code, again.content) == (status, response.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(backend.calls) == calls


def test_not_found_on_get(api: Api) -> None:
    response = api.client.get(f"/api/escrow/{OTHER_REF}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_contracts_invalid_amount_is_refused_before_the_backend(
    api: Api, backend: LocalBackend
) -> None:
    created(api)
    chain, calls = world(backend), len(backend.calls)
    response = api.post("fund", {"contract_id": REF, "amount": 0})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_amount")
    assert (world(backend), len(backend.calls)) == (chain, calls)


# --- bad input: 4xx JSON, nothing recorded, nothing sent


@pytest.fixture
def untouched(api: Api, backend: LocalBackend, client: TestClient):
    """Asserts, after the test, that neither the chain nor the idempotency record changed."""
    partly_funded(api)
    store = client.app.state.service.store
    before = world(backend), len(backend.calls), store.count()
    yield
    assert (world(backend), len(backend.calls), store.count()) == before


@pytest.mark.parametrize(
    "amount",
    [0, -1, 1.0, 0.5, "100", "1e3", True, False, None, [100], {"v": 1}, I128_MAX + 1, 2**200],
    ids=repr,
)
def test_bad_amounts(api: Api, untouched: None, amount: object) -> None:
    response = api.post("fund", {"contract_id": REF, "amount": amount})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_amount"


def test_an_amount_of_i128_max_reaches_the_contract(api: Api) -> None:
    escrow = api.ok("create", {"contract_id": OTHER_REF, "amount": I128_MAX})["escrow"]
    assert escrow["amount"] == I128_MAX


def test_missing_amount(api: Api, untouched: None) -> None:
    response = api.post("fund", {"contract_id": REF})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_amount")


@pytest.mark.parametrize(
    "contract_id",
    ["ESCROW_7K3M9QX", "ESCROW_7K3M9QXAB", "escrow_7k3m9qxa", "ESCROW_7K3M9QXI", "ESCROW-7K3M9QXA",
     "ESCROW_7K3M9QXU", " ESCROW_7K3M9QXA", "ESCROW_7K3M9QXA\n", "", 7, None],
    ids=repr,
)  # fmt: skip
def test_bad_contract_ids(api: Api, untouched: None, contract_id: object) -> None:
    response = api.post("fund", {"contract_id": contract_id, "amount": 5})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_contract_id"


@pytest.mark.parametrize("path", ["ESCROW_7K3M9QX", "escrow_7k3m9qxa", "ESCROW_7K3M9QXO"])
def test_bad_contract_id_in_the_path(client: TestClient, path: str) -> None:
    response = client.get(f"/api/escrow/{path}")
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_contract_id")


@pytest.mark.parametrize(
    "payee",
    ["GPAYEE", "", WORKER.lower(), WORKER[:-1] + ("A" if WORKER[-1] != "A" else "B"),
     "SBZVMB74Z76QZ3ZOY7UTDFYKMEGKW5XFJEB6PFKBF4UYSSWHG4EDH7PY", 42, None],
    ids=repr,
)  # fmt: skip
def test_invalid_payee(api: Api, untouched: None, payee: object) -> None:
    response = api.post("assign", {"contract_id": REF, "payee": payee})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_payee"


@pytest.mark.parametrize("payee", [WORKER, WORKER_MUXED, LOCAL_CONTRACT_ADDRESS])
def test_valid_payees(api: Api, payee: str) -> None:
    partly_funded(api)
    assert api.ok("assign", {"contract_id": REF, "payee": payee})["escrow"]["payee"] in {
        WORKER,
        LOCAL_CONTRACT_ADDRESS,
    }


@pytest.mark.parametrize("funder", ["GFUNDER", WORKER_MUXED, 5])
def test_invalid_funder(api: Api, untouched: None, funder: object) -> None:
    response = api.post("create", {"contract_id": OTHER_REF, "amount": 5, "funder": funder})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_funder")


@pytest.mark.parametrize("split", [1.5, "1", None, True, I128_MAX + 1])
def test_invalid_split_types(api: Api, untouched: None, split: object) -> None:
    body = {"contract_id": REF, "to_payee": split, "to_funder": 0}
    response = api.post("resolve", body)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_split")


def test_unknown_fields_are_refused(api: Api, untouched: None) -> None:
    response = api.post("fund", {"contract_id": REF, "amount": 5, "ammount": 6})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_field")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"contract_id": "ESCROW_7K3M9QXA", "amount": 5', "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"ESCROW_7K3M9QXA"', "application/json"),
        (b"null", "application/json"),
        (b"", "application/json"),
        (b"contract_id=ESCROW_7K3M9QXA&amount=5", "application/x-www-form-urlencoded"),
        (b'{"contract_id": "ESCROW_7K3M9QXA", "amount": 5}', "text/plain"),
        (b"\xff\xfe", "application/json"),
        (b'{"contract_id": "ESCROW_7K3M9QXA", "amount": ' + b"9" * 5000 + b"}", "application/json"),
        (b"[" * 100_000, "application/json"),
    ],
)
def test_malformed_bodies(client: TestClient, untouched: None, content, content_type) -> None:
    response = client.post(
        "/api/escrow/fund",
        content=content,
        headers={"Idempotency-Key": "k", "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_idempotency_key"),
        ({"Idempotency-Key": ""}, "missing_idempotency_key"),
        ({"Idempotency-Key": "k" * 129}, "invalid_idempotency_key"),
        ({"Idempotency-Key": "two words"}, "invalid_idempotency_key"),
        ({"Idempotency-Key": "café".encode("latin-1")}, "invalid_idempotency_key"),
    ],
)
def test_idempotency_key_is_required(client: TestClient, untouched: None, headers, code) -> None:
    response = client.post(
        "/api/escrow/fund", json={"contract_id": REF, "amount": 5}, headers=headers
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_a_128_character_key_is_fine(api: Api) -> None:
    api.ok("create", {"contract_id": REF, "amount": 5}, key="k" * 128)


@pytest.mark.parametrize("key", [None, "", "wrong-key", API_KEY + " ", API_KEY[:-1], "ключ"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/escrow/fund"), ("get", f"/api/escrow/{REF}"), ("post", "/api/escrow/nowhere")],
)
def test_wrong_or_missing_api_key(client: TestClient, untouched: None, key, method, path) -> None:
    headers = {"Idempotency-Key": "k", "X-API-Key": key}
    if key is None:
        del headers["X-API-Key"]
    raw = {k: v.encode() for k, v in headers.items()}  # httpx would refuse non-ASCII str values
    client.headers.pop("X-API-Key")
    response = client.request(method, path, content=b"{not json", headers=raw)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert API_KEY not in response.text


def test_unknown_paths_and_methods_are_json(client: TestClient) -> None:
    assert client.get("/api/nowhere").json()["error"]["code"] == "unknown_path"
    response = client.put("/api/escrow/fund", json={})
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")


class Broken(LocalBackend):
    def fund(self, **kwargs: object) -> None:
        raise RuntimeError("database password is hunter2")

    def health(self) -> dict:
        raise RuntimeError("database password is hunter2")


def test_unexpected_errors_are_500_json_without_internals(db_path, caplog) -> None:
    app = create_app(Config(api_key=API_KEY, db_path=db_path), Broken(db_path))
    client = TestClient(app, raise_server_exceptions=False, headers={"X-API-Key": API_KEY})
    with client:
        client.post(
            "/api/escrow/create",
            json={"contract_id": REF, "amount": 5},
            headers={"Idempotency-Key": "c"},
        )
        response = client.post(
            "/api/escrow/fund",
            json={"contract_id": REF, "amount": 5},
            headers={"Idempotency-Key": "f"},
        )
        health = client.get("/api/health")
        assert app.state.service.store.count() == 1  # the 500 was not recorded
    for answer in (response, health):
        assert answer.status_code == 500
        assert answer.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "hunter2" in caplog.text  # ... but the operator can see it in the log


def test_unavailable_backend_health_is_503(client: TestClient, backend: LocalBackend) -> None:
    class Down:
        def health(self) -> dict:
            from stellar_service.backends.base import Unavailable

            raise Unavailable("rpc down")

    client.app.state.service.backend = Down()
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert json.loads(response.text)["error"]["message"].startswith("rpc down")
