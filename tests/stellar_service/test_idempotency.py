"""P2, P3, P7 through HTTP: a key is applied at most once and always answers the same; a key with
another request is refused and changes nothing; an unknown outcome is retried with the same key
and is never applied twice."""

import hashlib
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from stellar_service.backends.base import IdempotencyConflict
from stellar_service.backends.channels import escrow_lock_path
from stellar_service.backends.local import LocalBackend
from stellar_service.config import LOCAL_CONTRACT_ADDRESS
from stellar_service.service import EscrowService
from stellar_service.store import IdempotencyStore
from tests.stellar_service.conftest import OTHER_REF, REF, WORKER, Api, world


def store_of(client: TestClient) -> IdempotencyStore:
    return client.app.state.service.store


def test_a_replay_returns_the_first_answer_byte_for_byte(api: Api, backend: LocalBackend) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    first = api.post("fund", {"contract_id": REF, "amount": 400}, key="f1")
    again = api.post("fund", {"contract_id": REF, "amount": 400}, key="f1")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.get()["funded"] == 400
    assert [key for op, key in backend.calls if op == "fund"] == ["f1"]  # the replay stayed home


def test_five_replays_in_a_row_fund_once(api: Api, backend: LocalBackend) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    contract_before = backend.balance(LOCAL_CONTRACT_ADDRESS)
    answers = {
        api.post("fund", {"contract_id": REF, "amount": 250}, key="f").content for _ in range(5)
    }
    assert len(answers) == 1
    assert api.get()["funded"] == 250
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == contract_before + 250
    assert backend.applied_operations().count("f") == 1


def test_eight_threads_with_one_key_fund_once(
    client: TestClient, api: Api, backend: LocalBackend
) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    barrier = threading.Barrier(8)

    def fund(_: int) -> tuple[int, bytes]:
        barrier.wait()
        response = client.post(
            "/api/escrow/fund",
            json={"contract_id": REF, "amount": 100},
            headers={"Idempotency-Key": "same"},
        )
        return response.status_code, response.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fund, range(8)))
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1
    assert api.get()["funded"] == 100
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == 100
    assert [key for op, key in backend.calls if op == "fund"] == ["same"]


def test_eight_threads_with_their_own_keys_all_land(
    client: TestClient, api: Api, backend: LocalBackend
) -> None:
    """Serialised, not lost: eight concurrent partial fundings add up exactly."""
    api.ok("create", {"contract_id": REF, "amount": 800})
    barrier = threading.Barrier(8)

    def fund(index: int) -> int:
        barrier.wait()
        return client.post(
            "/api/escrow/fund",
            json={"contract_id": REF, "amount": 100},
            headers={"Idempotency-Key": f"part-{index}"},
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fund, range(8))) == {200}
    assert (api.get()["funded"], api.get()["status"]) == (800, "funded")
    assert backend.balance(LOCAL_CONTRACT_ADDRESS) == 800


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("fund", {"contract_id": REF, "amount": 401}),
        ("fund", {"contract_id": "ESCROW_8M4N0RYB", "amount": 400}),
        ("create", {"contract_id": REF, "amount": 400}),
    ],
)
def test_the_same_key_with_another_request_is_refused(
    client: TestClient, api: Api, backend: LocalBackend, operation: str, body: dict
) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    first = api.ok("fund", {"contract_id": REF, "amount": 400}, key="f1")
    before = world(backend), len(backend.calls), store_of(client).count()
    response = api.post(operation, body, key="f1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert (world(backend), len(backend.calls), store_of(client).count()) == before
    # ... and the key still answers its own request.
    assert api.ok("fund", {"contract_id": REF, "amount": 400}, key="f1") == first


def test_an_omitted_funder_is_the_same_request_as_the_default_one(api: Api) -> None:
    first = api.ok("create", {"contract_id": REF, "amount": 5}, key="c")
    explicit = {"contract_id": REF, "amount": 5, "funder": first["escrow"]["funder"]}
    assert api.ok("create", explicit, key="c") == first


def test_a_contract_error_is_a_definite_recorded_answer(api: Api, backend: LocalBackend) -> None:
    """Refused for want of a payee: after the payee is assigned, the same key still says no,
    rather than releasing under a key the caller saw fail."""
    api.funded(payee=None)
    refused = api.post("release", {"contract_id": REF}, key="r")
    assert refused.json()["error"]["code"] == "no_payee"
    api.ok("assign", {"contract_id": REF, "payee": WORKER})
    again = api.post("release", {"contract_id": REF}, key="r")
    assert (again.status_code, again.content) == (409, refused.content)
    assert api.get()["status"] == "funded"
    assert api.ok("release", {"contract_id": REF}, key="r2")["escrow"]["status"] == "released"


def test_bad_input_does_not_use_up_the_key(client: TestClient, api: Api) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    assert api.post("fund", {"contract_id": REF, "amount": -5}, key="f").status_code == 422
    assert store_of(client).count() == 1
    assert api.ok("fund", {"contract_id": REF, "amount": 5}, key="f")["escrow"]["funded"] == 5


def test_fail_before_apply_is_503_then_the_retry_applies_once(
    client: TestClient, api: Api, backend: LocalBackend
) -> None:
    api.ok("create", {"contract_id": REF, "amount": 1_000})
    backend.faults.fail_before_apply = 1
    lost = api.post("fund", {"contract_id": REF, "amount": 300}, key="f")
    assert lost.status_code == 503
    assert lost.json()["error"]["code"] == "unavailable"
    assert lost.headers["Retry-After"] == "1"
    assert api.get()["funded"] == 0
    assert store_of(client).count() == 1  # an unknown outcome is not an answer
    retried = api.ok("fund", {"contract_id": REF, "amount": 300}, key="f")
    assert retried["escrow"]["funded"] == 300
    assert [key for op, key in backend.calls if op == "fund"] == ["f", "f"]
    assert backend.applied_operations().count("f") == 1


def test_a_lost_answer_is_retried_to_the_same_tx_hash_applied_once(
    client: TestClient, api: Api, backend: LocalBackend
) -> None:
    api.funded()
    float_before = backend.balances()
    backend.faults.lose_answer_after_apply = 1
    lost = api.post("release", {"contract_id": REF}, key="r")
    assert lost.status_code == 503
    assert "r" in backend.applied_operations()  # it did happen ...
    assert api.get()["status"] == "released"
    paid = backend.balances()
    retried = api.ok("release", {"contract_id": REF}, key="r")  # ... and the retry says so
    request = json.dumps(
        {"operation": "release", "contract_id": REF}, sort_keys=True, separators=(",", ":")
    )
    assert retried["tx_hash"] == hashlib.sha256(f"r|{request}".encode()).hexdigest()
    assert retried["escrow"]["status"] == "released"
    assert backend.balances() == paid != float_before
    assert backend.applied_operations().count("r") == 1
    assert (
        api.post("release", {"contract_id": REF}, key="r").content
        == json.dumps(retried, separators=(",", ":")).encode()
    )


def test_the_backend_alone_refuses_a_key_reused_for_another_request(
    db_path, backend: LocalBackend, tmp_path
) -> None:
    """Two services with separate records over one chain: the chain still applies a key once."""
    one = EscrowService(backend, IdempotencyStore(db_path))
    two = EscrowService(backend, IdempotencyStore(tmp_path / "other.sqlite3"))
    one.create(key="c", contract_id=REF, amount=1_000)
    assert (
        two.create(key="c", contract_id=REF, amount=1_000).json()
        == one.create(key="c", contract_id=REF, amount=1_000).json()
    )
    with pytest.raises(IdempotencyConflict):
        two.create(key="c", contract_id=REF, amount=999)
    assert backend.applied_operations() == ["c"]


def test_writes_for_one_escrow_queue_behind_another_process(db_path) -> None:
    """One write at a time per escrow, even across processes (a second server, the operator CLI,
    Django in-process): its lock file is held while a write is sent; other escrows go on."""
    store = IdempotencyStore(db_path)
    store.lock_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # noqa: S603 (our interpreter, our script): holds the lock 0.6 s
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
            " print('held', flush=True); time.sleep(0.6)",
            str(escrow_lock_path(store.lock_dir, REF)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with store.serialised(OTHER_REF):
            assert time.monotonic() - started < 0.3
        with store.serialised(REF):
            waited = time.monotonic() - started
    finally:
        holder.wait(timeout=5)
    assert waited > 0.3
