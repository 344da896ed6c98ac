"""The operator CLI against the fake Stellar RPC served on loopback (the CLI only takes a URL)."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from stellar_sdk import Asset, Keypair, StrKey, scval

from stellar_service.cli import main
from stellar_service.fake_rpc import FakeStellarRpc

from .fake_rpc_fixtures import CONTRACT, OPERATOR, PASSPHRASE, make_backend, make_fake
from .fake_rpc_fixtures import soroban_config as make_config

ADMIN = Keypair.from_raw_ed25519_seed(hashlib.sha256(b"kazi test admin").digest())
ISSUER = Keypair.from_raw_ed25519_seed(hashlib.sha256(b"kazi test issuer").digest())
WASM = b"\x00asm\x01\x00\x00\x00 a stand-in for the escrow contract"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeStellarRpc, str]]:
    fake = make_fake(tmp_path)
    fake.contract_address = None  # nothing deployed yet
    for account in (ADMIN, ISSUER):
        fake.create_account(account.public_key)
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLAR_ADMIN_SECRET", ADMIN.secret)
    monkeypatch.setenv("STELLAR_OPERATOR_SECRET", OPERATOR.secret)
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", ISSUER.secret)
    monkeypatch.delenv("STELLAR_ARBITER_SECRET", raising=False)
    monkeypatch.delenv("STELLAR_FUNDER_SECRET", raising=False)


def _deploy(url: str, wasm: Path, *extra: str) -> int:
    wasm.write_bytes(WASM)
    return main(
        [
            "deploy",
            "--rpc-url",
            url,
            "--network-passphrase",
            PASSPHRASE,
            "--wasm",
            str(wasm),
            "--fee-bps",
            "250",
            *extra,
        ]
    )


def test_keys_generate_prints_a_working_pair_and_warns_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "generate"]) == 0
    out, err = capsys.readouterr()
    public = out.split("public key:")[1].split()[0]
    secret = out.split("secret:")[1].split()[0]
    assert Keypair.from_secret(secret).public_key == public
    assert "WARNING" in err
    assert secret not in err


@pytest.mark.usefixtures("secrets_env")
def test_deploy_issues_the_asset_and_creates_the_contract(
    served: tuple[FakeStellarRpc, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = served
    assert _deploy(url, tmp_path / "escrow.wasm", "--mint", "1000000") == 0
    out, err = capsys.readouterr()
    assert fake.rejected == []

    kes = Asset("KES", ISSUER.public_key)
    token = kes.contract_id(PASSPHRASE)
    contract = out.split("contract:")[1].split()[0]
    assert StrKey.is_valid_contract(contract)
    assert fake.contract_address == contract
    assert fake.wasm == {hashlib.sha256(WASM).digest(): WASM}
    deployment = fake.contracts[contract]
    assert deployment.wasm_hash == hashlib.sha256(WASM).digest()
    assert [scval.to_native(v) for v in deployment.constructor_args[-1:]] == [250]
    roles = [scval.from_address(v).address for v in deployment.constructor_args[:5]]
    # admin, operator, arbiter (the operator by default), token, fee account (the admin)
    assert roles == [
        ADMIN.public_key,
        OPERATOR.public_key,
        OPERATOR.public_key,
        token,
        ADMIN.public_key,
    ]
    assert token in fake.contracts  # the asset contract
    assert fake.trustlines == {
        (OPERATOR.public_key, f"KES:{ISSUER.public_key}"),
        (ADMIN.public_key, f"KES:{ISSUER.public_key}"),
    }
    assert fake.payments == [
        (ISSUER.public_key, OPERATOR.public_key, f"KES:{ISSUER.public_key}", "1000000")
    ]
    assert f"STELLAR_CONTRACT_ADDRESS={contract}" in out
    assert f"STELLAR_FUNDER_ACCOUNT={OPERATOR.public_key}" in out
    for secret in (ADMIN.secret, OPERATOR.secret, ISSUER.secret):
        assert secret not in out
        assert secret not in err


@pytest.mark.usefixtures("secrets_env")
def test_deploy_refuses_without_its_secrets_or_on_the_wrong_network(
    served: tuple[FakeStellarRpc, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, url = served
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", "S-not-a-secret")
    assert _deploy(url, tmp_path / "escrow.wasm") == 1
    assert "STELLAR_ISSUER_SECRET is not a valid secret seed" in capsys.readouterr().err
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", ISSUER.secret)
    wasm = tmp_path / "escrow.wasm"
    wasm.write_bytes(WASM)
    wrong = ["deploy", "--rpc-url", url, "--network-passphrase", "Other", "--wasm", str(wasm)]
    assert main(wrong) == 1
    assert "another network" in capsys.readouterr().err
    assert fake.sent == []


@pytest.mark.usefixtures("secrets_env")
def test_deploy_says_which_account_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake(tmp_path)  # the admin account was never created (funded)
    with fake.serve() as url:
        assert _deploy(url, tmp_path / "escrow.wasm") == 1
    err = capsys.readouterr().err
    assert ADMIN.public_key in err
    assert "friendbot" in err
    assert ADMIN.secret not in err


def test_show_prints_the_escrow_through_the_configured_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake(tmp_path)
    config = make_config(tmp_path)
    make_backend(config, fake).create(
        key="c1", contract_id="ESCROW_7K3M9QXA", funder=OPERATOR.public_key, amount=1234
    )
    with fake.serve() as url:
        for name, value in {
            "STELLAR_BACKEND": "soroban",
            "STELLAR_CONTRACT_API_KEY": "test-api-key",
            "STELLAR_RPC_URL": url,
            "STELLAR_NETWORK_PASSPHRASE": PASSPHRASE,
            "STELLAR_CONTRACT_ADDRESS": CONTRACT,
            "STELLAR_OPERATOR_SECRET": OPERATOR.secret,
            "KAZI_VAR_DIR": str(tmp_path),
        }.items():
            monkeypatch.setenv(name, value)
        assert main(["show", "ESCROW_7K3M9QXA"]) == 0
        shown = capsys.readouterr().out
        assert '"amount": 1234' in shown
        assert '"status": "funding"' in shown
        assert main(["show", "ESCROW_8M4N0RYB"]) == 1
        assert "not_found" in capsys.readouterr().err
    assert len(fake.sent) == 1  # show only simulates
