from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.testclient import TestClient
from stellar_sdk import MuxedAccount

from stellar_service.app import create_app
from stellar_service.backends.local import LocalBackend
from stellar_service.config import Config, local_account

if TYPE_CHECKING:
    from .localnet import Deployment, Localnet

API_KEY = "test-api-key"
REF = "ESCROW_7K3M9QXA"
OTHER_REF = "ESCROW_8M4N0RYB"
WORKER = local_account("test worker")
WORKER_MUXED = MuxedAccount(WORKER, 42).account_muxed
FEE_BPS = 250  # 2.5 %: every release in these tests pays a fee, so rounding shows


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stellar-service.sqlite3"


@pytest.fixture
def backend(db_path: Path) -> LocalBackend:
    return LocalBackend(db_path, fee_bps=FEE_BPS)


@pytest.fixture
def client(db_path: Path, backend: LocalBackend) -> Iterator[TestClient]:
    app = create_app(Config(api_key=API_KEY, db_path=db_path), backend)
    with TestClient(app, headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


class Api:
    """Calls the service over (test) HTTP, keeping the keys unique unless one is given."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.sent = 0

    def post(self, operation: str, body: dict, key: str | None = None) -> httpx.Response:
        self.sent += 1
        key = f"test-{operation}-{self.sent}" if key is None else key
        return self.client.post(
            f"/api/escrow/{operation}", json=body, headers={"Idempotency-Key": key}
        )

    def ok(self, operation: str, body: dict, key: str | None = None) -> dict:
        response = self.post(operation, body, key)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, reference: str = REF) -> dict:
        response = self.client.get(f"/api/escrow/{reference}")
        assert response.status_code == 200, response.text
        return response.json()

    def funded(
        self, reference: str = REF, amount: int = 10_000, payee: str | None = WORKER
    ) -> dict:
        """An escrow funded in two parts, with a payee unless payee is None."""
        self.ok("create", {"contract_id": reference, "amount": amount})
        self.ok("fund", {"contract_id": reference, "amount": amount // 2})
        self.ok("fund", {"contract_id": reference, "amount": amount - amount // 2})
        if payee is not None:
            self.ok("assign", {"contract_id": reference, "payee": payee})
        return self.get(reference)


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def world(backend: LocalBackend) -> tuple[list, dict[str, int], list[str]]:
    """Everything a write could change on the "chain": escrows, balances, applied keys."""
    return backend.escrows(), backend.balances(), backend.applied_operations()


# --- the local Stellar network (tests/stellar_service/localnet.py) ------------------------------


@pytest.fixture(scope="session")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator["Localnet"]:
    """One kazi-localnet process for the session, on a free port, in a fresh state dir."""
    from .localnet import start_localnet

    net = start_localnet(tmp_path_factory.mktemp("localnet"))
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session")
def deployment(localnet: "Localnet") -> "Deployment":
    """The contract deployed on it by `python -m stellar_service.cli deploy`."""
    from .localnet import deploy

    return deploy(localnet)


@pytest.fixture
def net(localnet: "Localnet") -> Iterator["Localnet"]:
    """The session's network, with no fault armed and nothing queued around each test."""
    localnet.settle()
    yield localnet
    localnet.settle()
