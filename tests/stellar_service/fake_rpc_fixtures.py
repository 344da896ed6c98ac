"""The fake Stellar RPC and a soroban backend wired to it, for the soroban backend and CLI tests."""

import hashlib
import itertools
from pathlib import Path

import pytest
from stellar_sdk import Keypair, Network, SorobanServer, StrKey

from stellar_service.backends.local import LOCAL_FLOAT, LocalBackend
from stellar_service.backends.soroban import SorobanBackend
from stellar_service.config import Config
from stellar_service.fake_rpc import FakeStellarRpc

PASSPHRASE = Network.TESTNET_NETWORK_PASSPHRASE
OPERATOR = Keypair.from_raw_ed25519_seed(hashlib.sha256(b"kazi test operator").digest())
ARBITER = Keypair.from_raw_ed25519_seed(hashlib.sha256(b"kazi test arbiter").digest())
CONTRACT = StrKey.encode_contract(hashlib.sha256(b"kazi test escrow").digest())
API_KEY = "test-api-key"
POLLS = 3  # getTransaction calls a backend makes before answering "pending" (503)


def make_fake(
    tmp_path: Path, *, float_amount: int = LOCAL_FLOAT, **options: object
) -> FakeStellarRpc:
    models = itertools.count()

    def model() -> LocalBackend:
        # The contract's semantics are the local backend's; the float is the operator's.
        return LocalBackend(
            tmp_path / f"model-{next(models)}.sqlite3",
            funder=OPERATOR.public_key,
            float_amount=float_amount,
        )

    return FakeStellarRpc(
        network_passphrase=PASSPHRASE,
        contract_model=model,
        contract_address=CONTRACT,
        accounts=(OPERATOR.public_key,),
        **options,
    )


def soroban_config(tmp_path: Path, **overrides: object) -> Config:
    settings: dict = {
        "api_key": API_KEY,
        "backend": "soroban",
        "db_path": tmp_path / "stellar-service.sqlite3",
        "rpc_url": "http://fake-rpc.invalid",
        "network_passphrase": PASSPHRASE,
        "contract_address": CONTRACT,
        "operator_secret": OPERATOR.secret,
        "funder_account": OPERATOR.public_key,
        **overrides,
    }
    return Config(**settings)


def make_backend(config: Config, fake: FakeStellarRpc, **options: object) -> SorobanBackend:
    """A new backend instance on the config's store (a "restart" is simply another call)."""
    return SorobanBackend(
        config,
        SorobanServer(config.rpc_url, client=fake.client()),
        confirm_timeout=POLLS,
        poll_interval=1,
        sleep=lambda seconds: None,
        **options,
    )


@pytest.fixture(name="fake")
def fake_fixture(tmp_path: Path) -> FakeStellarRpc:
    return make_fake(tmp_path)


@pytest.fixture(name="config")
def config_fixture(tmp_path: Path) -> Config:
    return soroban_config(tmp_path)


@pytest.fixture(name="soroban")
def soroban_fixture(config: Config, fake: FakeStellarRpc) -> SorobanBackend:
    return make_backend(config, fake)
