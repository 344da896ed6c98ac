"""The operator CLI against the local Stellar network (contracts/localnet): `deploy` issues the
asset, deploys its Stellar Asset Contract, uploads the real wasm and creates the contract, each
step a signed transaction the network checks; `show` reads an escrow through the backend."""

import hashlib
import json
from pathlib import Path

import pytest
from stellar_sdk import Address, Keypair, StrKey, TransactionBuilder, scval
from stellar_sdk import xdr as stellar_xdr

from stellar_service.cli import DEFAULT_WASM, main

from .localnet import (
    ADMIN,
    ARBITER,
    ISSUER,
    OPERATOR,
    PASSPHRASE,
    Deployment,
    Localnet,
    deploy,
    reference,
)

MAX_FEE = "10000000000"  # stroops: uploading the wasm pays its rent for 120 days


def _config(net: Localnet, contract: str) -> dict:
    """The deployed contract's `config()`, by simulation."""
    server = net.server()
    tx = (
        TransactionBuilder(server.load_account(ADMIN.public_key), PASSPHRASE, 100)
        .append_invoke_contract_function_op(contract, "config", [])
        .set_timeout(60)
        .build()
    )
    simulation = server.simulate_transaction(tx)
    assert simulation.error is None, simulation.error
    value = scval.to_native(stellar_xdr.SCVal.from_xdr(simulation.results[0].xdr))
    return {
        key.decode() if isinstance(key, bytes) else key: (
            val.address if isinstance(val, Address) else val
        )
        for key, val in value.items()
    }


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


def test_deploy_issues_the_asset_and_creates_the_contract(
    net: Localnet, deployment: Deployment
) -> None:
    again = deploy(net, fee_bps=250)  # each run creates a new contract
    assert StrKey.is_valid_contract(again.contract)
    assert again.contract != deployment.contract
    assert f"STELLAR_CONTRACT_ADDRESS={again.contract}" in again.output
    assert f"STELLAR_FUNDER_ACCOUNT={OPERATOR.public_key}" in again.output
    assert "already deployed" in again.output  # the asset contract of the first run
    assert _config(net, again.contract) == {
        "admin": ADMIN.public_key,
        "operator": OPERATOR.public_key,
        "arbiter": ARBITER.public_key,
        "token": again.token,
        "fee_account": ADMIN.public_key,
        "fee_bps": 250,
    }
    # The wasm on the ledger is the one built.
    wasm_hash = hashlib.sha256(DEFAULT_WASM.read_bytes()).digest()
    code = net.entry(
        stellar_xdr.LedgerKey(
            stellar_xdr.LedgerEntryType.CONTRACT_CODE,
            contract_code=stellar_xdr.LedgerKeyContractCode(stellar_xdr.Hash(wasm_hash)),
        )
    )
    assert code is not None
    assert code.contract_code.code == DEFAULT_WASM.read_bytes()
    # Trustlines for the funder (the operator) and the fee account (the admin); KES issued.
    assert net.trustline_balance(ADMIN.public_key, again.asset) == 0
    assert net.trustline_balance(OPERATOR.public_key, again.asset) > 0
    for secret in (ADMIN.secret, OPERATOR.secret, ISSUER.secret):
        assert secret not in again.output


def test_the_constructor_refuses_a_fee_above_ten_percent_through_the_network(
    net: Localnet, deployment: Deployment
) -> None:
    """InvalidFee (11), the one contract error no escrow call can reach."""
    server = net.server()
    wasm_hash = hashlib.sha256(DEFAULT_WASM.read_bytes()).digest()
    roles = [ADMIN, OPERATOR, ARBITER]
    args = [scval.to_address(k.public_key) for k in roles]
    args += [scval.to_address(deployment.token), scval.to_address(ADMIN.public_key)]
    args.append(scval.to_uint32(1001))
    tx = (
        TransactionBuilder(server.load_account(ADMIN.public_key), PASSPHRASE, 100)
        .append_create_contract_op(wasm_hash, ADMIN.public_key, constructor_args=args)
        .set_timeout(60)
        .build()
    )
    simulation = server.simulate_transaction(tx)
    assert simulation.error is not None
    raised = []
    for event_xdr in simulation.events or []:
        topics = stellar_xdr.DiagnosticEvent.from_xdr(event_xdr).event.body.v0.topics
        if len(topics) == 2 and topics[0] == scval.to_symbol("error"):
            error = topics[1].error
            if error.type == stellar_xdr.SCErrorType.SCE_CONTRACT:
                raised.append(error.contract_code.uint32)
    assert raised
    assert set(raised) == {11}  # the constructor's InvalidFee


def test_deploy_refuses_without_its_secrets_or_on_the_wrong_network(
    net: Localnet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STELLAR_ADMIN_SECRET", ADMIN.secret)
    monkeypatch.setenv("STELLAR_OPERATOR_SECRET", OPERATOR.secret)
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", "S-not-a-secret")
    base = ["deploy", "--rpc-url", net.url, "--max-fee", MAX_FEE]
    assert main([*base, "--network-passphrase", PASSPHRASE]) == 1
    assert "STELLAR_ISSUER_SECRET is not a valid secret seed" in capsys.readouterr().err
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", ISSUER.secret)
    sequence = net.server().load_account(ADMIN.public_key).sequence
    assert main([*base, "--network-passphrase", "Other network"]) == 1
    assert "another network" in capsys.readouterr().err
    assert net.server().load_account(ADMIN.public_key).sequence == sequence


def test_deploy_says_which_account_is_missing(
    net: Localnet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = Keypair.random()  # never funded
    monkeypatch.setenv("STELLAR_ADMIN_SECRET", stranger.secret)
    monkeypatch.setenv("STELLAR_OPERATOR_SECRET", OPERATOR.secret)
    monkeypatch.setenv("STELLAR_ISSUER_SECRET", ISSUER.secret)
    argv = ["deploy", "--rpc-url", net.url, "--network-passphrase", PASSPHRASE]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert stranger.public_key in err
    assert "friendbot" in err
    assert stranger.secret not in err


def test_show_prints_the_escrow_through_the_configured_backend(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from .test_soroban_backend import make_backend, soroban_config

    ref = reference()
    make_backend(soroban_config(tmp_path, deployment)).create(
        key="c1", contract_id=ref, funder=OPERATOR.public_key, amount=1234
    )
    sequence = net.server().load_account(OPERATOR.public_key).sequence
    for name, value in {
        "STELLAR_BACKEND": "soroban",
        "STELLAR_CONTRACT_API_KEY": "test-api-key",
        "STELLAR_RPC_URL": net.url,
        "STELLAR_NETWORK_PASSPHRASE": PASSPHRASE,
        "STELLAR_CONTRACT_ADDRESS": deployment.contract,
        "STELLAR_OPERATOR_SECRET": OPERATOR.secret,
        "KAZI_VAR_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["show", ref]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["amount"], shown["status"]) == (1234, "funding")
    assert main(["show", reference()]) == 1
    assert "not_found" in capsys.readouterr().err
    assert net.server().load_account(OPERATOR.public_key).sequence == sequence  # show only reads
