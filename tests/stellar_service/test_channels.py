"""Channel accounts and fee bumps in the soroban backend, on the local Stellar network: many
escrows' writes side by side over a pool of channels (each escrow's in order, each channel's
sequence numbers used once, in turn), a channel resuming its stored envelope after a restart,
a sequence number taken behind its back, the fee account running dry and topped up, and the
health of every channel."""

import logging
import math
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stellar_sdk import (
    Asset,
    FeeBumpTransactionEnvelope,
    Keypair,
    MuxedAccount,
    SorobanServer,
    TransactionBuilder,
)

from stellar_service import cli
from stellar_service.app import create_app
from stellar_service.backends.base import Unavailable
from stellar_service.backends.channels import read_accounts
from stellar_service.backends.soroban import FeeAccountEmpty
from stellar_service.config import Config
from stellar_service.service import EscrowService

from .localnet import (
    ADMIN,
    LEDGER_CLOSE_MS,
    OPERATOR,
    PASSPHRASE,
    SDK_ATTEMPTS,
    Deployment,
    Localnet,
    reference,
)
from .test_soroban_backend import API_KEY, FUNDER, make_backend, soroban_config

CHANNELS = 16
CHANNEL_XLM = "10"  # what `channels create` gives: the fee account pays every fee
AMOUNT = 10_000_000


def _create_accounts(net: Localnet, count: int) -> list[Keypair]:
    """New accounts funded by the admin, as `cli channels create` makes them."""
    keys = [Keypair.random() for _ in range(count)]
    network = cli.Deployer(net.server(), PASSPHRASE, 1_000_000)
    payments = {key.public_key: cli._stroops(CHANNEL_XLM) for key in keys}
    cli.pay_accounts(network, ADMIN, payments, create=True)
    return keys


def _pay(net: Localnet, source: Keypair, destination: str, stroops: int) -> None:
    server = net.server()
    tx = (
        TransactionBuilder(server.load_account(source.public_key), PASSPHRASE, 100)
        .append_payment_op(destination, Asset.native(), f"{stroops / 10**7:.7f}")
        .set_timeout(60)
        .build()
    )
    tx.sign(source)
    net.submit(tx)


@pytest.fixture(scope="module")
def channels(localnet: Localnet, deployment: Deployment) -> list[Keypair]:
    return _create_accounts(localnet, CHANNELS)


@pytest.fixture(scope="module")
def fee_account(localnet: Localnet, deployment: Deployment) -> Keypair:
    return localnet.new_account("fee account")


def channel_config(
    tmp_path: Path, deployment: Deployment, channels: list[Keypair], fee: Keypair, **more: object
) -> Config:
    return soroban_config(
        tmp_path,
        deployment,
        channel_secrets=tuple(channel.secret for channel in channels),
        fee_account_secret=fee.secret,
        **more,
    )


def _landed(net: Localnet, tx_hash: str) -> dict:
    found = net.transaction(tx_hash)
    assert found["status"] == "SUCCESS", found
    return found


def _inner(found: dict):
    envelope = TransactionBuilder.from_xdr(found["envelopeXdr"], PASSPHRASE)
    assert isinstance(envelope, FeeBumpTransactionEnvelope)
    return envelope, envelope.transaction.inner_transaction_envelope.transaction


def _balances(rpc: SorobanServer, accounts: list[Keypair]) -> dict[str, int]:
    states = read_accounts(rpc, [account.public_key for account in accounts])
    return {account: state.balance for account, state in states.items()}


def test_an_authorisation_lasts_as_long_as_its_envelope_at_the_networks_pace(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
) -> None:
    """The operator's signature on a channel's transaction expires with the envelope, counted in
    this network's ledgers (a ledger every LEDGER_CLOSE_MS here): not after 34 ledgers, which is
    3.4 s here and made busy runs fail on chain, nor long after the envelope can land."""
    backend = make_backend(
        channel_config(tmp_path, deployment, channels, fee_account), tx_timeout=120
    )
    ref = reference()
    tx_hash = backend.create(key=f"c-{ref}", contract_id=ref, funder=FUNDER, amount=AMOUNT).tx_hash
    found = _landed(net, tx_hash)
    _, inner = _inner(found)
    [entry] = inner.operations[0].auth
    signed = entry.credentials.address or entry.credentials.address_v2
    expires = signed.signature_expiration_ledger.uint32
    envelope_life = math.ceil(120 / (LEDGER_CLOSE_MS / 1000))  # in ledgers
    assert found["ledger"] + envelope_life - 20 <= expires <= found["ledger"] + envelope_life + 10


# --- many escrows side by side ------------------------------------------------------------------


def test_200_writes_over_16_channels_land_once_in_order_with_each_sequence_number_used_once(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
) -> None:
    backend = make_backend(
        channel_config(tmp_path, deployment, channels, fee_account), confirm_timeout=20.0
    )
    escrows = [reference() for _ in range(50)]
    sequences_before = {
        account: state.sequence
        for account, state in read_accounts(net.server(), [c.public_key for c in channels]).items()
    }
    balances_before = _balances(net.server(), channels)

    def lifecycle(index: int) -> list[str]:
        ref = escrows[index]
        payee = MuxedAccount(OPERATOR.public_key, index + 1).account_muxed
        return [
            backend.create(key=f"c-{ref}", contract_id=ref, funder=FUNDER, amount=AMOUNT).tx_hash,
            backend.fund(key=f"f-{ref}", contract_id=ref, amount=AMOUNT).tx_hash,
            backend.assign(key=f"a-{ref}", contract_id=ref, payee=payee).tx_hash,
            backend.release(key=f"r-{ref}", contract_id=ref).tx_hash,
        ]

    with ThreadPoolExecutor(len(escrows)) as threads:
        hashes = list(threads.map(lifecycle, range(len(escrows))))

    # Each escrow's writes applied once each, in the order they were asked for.
    for ref, tx_hashes in zip(escrows, hashes, strict=True):
        assert net.contract_events(deployment.contract, ref) == [
            "created",
            "funded",
            "assigned",
            "released",
        ]
        ledgers = [_landed(net, tx_hash)["ledger"] for tx_hash in tx_hashes]
        assert ledgers == sorted(set(ledgers))
    # Each channel's sequence numbers used once each, one after another, all by our writes; the
    # fee account paid every fee, so the channels' balances did not move.
    by_channel: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for tx_hash in (tx_hash for escrow in hashes for tx_hash in escrow):
        found = _landed(net, tx_hash)
        bump, inner = _inner(found)
        assert bump.transaction.fee_source.account_id == fee_account.public_key
        by_channel[inner.source.account_id].append(
            (found["ledger"], found["applicationOrder"], inner.sequence)
        )
    assert set(by_channel) <= set(sequences_before)
    assert len(by_channel) > CHANNELS // 2  # spread over the pool
    sequences_after = read_accounts(net.server(), list(sequences_before))
    for channel, landed in by_channel.items():
        numbers = [sequence for _, _, sequence in sorted(landed)]
        first = sequences_before[channel] + 1
        assert numbers == list(range(first, first + len(numbers)))
        assert sequences_after[channel].sequence == numbers[-1]
    assert _balances(net.server(), channels) == balances_before
    # No envelope lost or left behind.
    assert backend.store.pending() == []
    assert backend.store.abandoned() == []


def test_two_writes_for_one_escrow_are_never_in_flight_at_once(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
) -> None:
    config = channel_config(tmp_path, deployment, channels[:4], fee_account)
    workers = [make_backend(config), make_backend(config)]  # one store, two "processes"
    ref, parts = reference(), 6
    workers[0].create(key="c", contract_id=ref, funder=FUNDER, amount=AMOUNT * parts)
    in_flight, most = [0], [0]
    count = threading.Lock()

    def tracked(send):
        def send_and_confirm(stored):
            with count:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                time.sleep(0.05)  # widen the window a second send would race into
                return send(stored)
            finally:
                with count:
                    in_flight[0] -= 1

        return send_and_confirm

    for worker in workers:
        worker._send_and_confirm = tracked(worker._send_and_confirm)  # type: ignore[method-assign]
    barrier = threading.Barrier(parts)

    def fund(index: int) -> int:
        barrier.wait()
        receipt = workers[index % 2].fund(key=f"f{index}", contract_id=ref, amount=AMOUNT)
        return receipt.escrow.funded

    with ThreadPoolExecutor(parts) as threads:
        funded = sorted(threads.map(fund, range(parts)))
    assert most[0] == 1
    assert funded == [AMOUNT * n for n in range(1, parts + 1)]  # one after another
    assert net.contract_events(deployment.contract, ref) == ["created"] + ["funded"] * parts


def test_a_replayed_key_racing_itself_gets_the_first_answer_through_the_service(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
) -> None:
    config = channel_config(tmp_path, deployment, channels[:4], fee_account)
    service = EscrowService.from_config(config, make_backend(config))
    ref, twins = reference(), 5
    barrier = threading.Barrier(twins)

    def create(_: int) -> str:
        barrier.wait()
        return service.create(key="same", contract_id=ref, amount=AMOUNT, funder=FUNDER).body

    with ThreadPoolExecutor(twins) as threads:
        bodies = set(threads.map(create, range(twins)))
    assert len(bodies) == 1
    assert net.contract_events(deployment.contract, ref) == ["created"]


# --- a channel's unknown outcome, restarts and sequence numbers ----------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"unavailableFor": {"method": "sendTransaction", "count": SDK_ATTEMPTS}},  # before landing
        {"loseResponses": SDK_ATTEMPTS},  # landed, the answer lost
    ],
)
def test_a_channel_killed_mid_send_resumes_from_its_stored_envelope_after_a_restart(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
    fault: dict,
) -> None:
    # One channel, so the restarted backend's next write must go through it.
    config = channel_config(tmp_path, deployment, channels[-1:], fee_account)
    ref, other = reference(), reference()
    first = make_backend(config)
    net.faults(**fault)
    with pytest.raises(Unavailable):
        first.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    stored = first.store.get("c1")
    assert (stored.state, stored.source) == ("pending", channels[-1].public_key)

    restarted = make_backend(config)  # a new process on the same store
    assert restarted.health()["channels"][0]["in_flight"] == stored.tx_hash
    # The channel settles its stored envelope (resent unchanged, or its outcome read) before
    # it takes the new write.
    restarted.create(key="c2", contract_id=other, funder=FUNDER, amount=AMOUNT)
    assert restarted.store.get("c1").state == "applied"
    receipt = restarted.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash == stored.tx_hash
    assert net.contract_events(deployment.contract, ref) == ["created"]
    assert net.contract_events(deployment.contract, other) == ["created"]
    assert restarted.health()["channels"][0]["in_flight"] is None


def test_a_sequence_number_taken_behind_the_channels_back_is_read_again_not_guessed(
    tmp_path: Path, net: Localnet, deployment: Deployment, fee_account: Keypair
) -> None:
    (channel,) = _create_accounts(net, 1)
    config = channel_config(tmp_path, deployment, [channel], fee_account)
    backend = make_backend(config, confirm_timeout=1.0)
    ref = reference()
    net.faults(dropTransactions=1)  # accepted, then lost from the queue: never applied
    with pytest.raises(Unavailable, match="still pending"):
        backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    lost = backend.store.get("c1")
    # Someone else uses the channel's next sequence number (a payment it signs itself).
    _pay(net, channel, ADMIN.public_key, 1)

    receipt = backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash != lost.tx_hash
    ((key, tx_hash, reason),) = backend.store.abandoned()
    assert (key, tx_hash) == ("c1", lost.tx_hash)
    assert "sequence number was used by another transaction" in reason
    _, inner = _inner(_landed(net, receipt.tx_hash))
    assert inner.sequence == lost.sequence + 1  # the number read from the network
    assert net.contract_events(deployment.contract, ref) == ["created"]


# --- the fee account ---------------------------------------------------------------------------


def _drain(net: Localnet, account: Keypair, leave: int = 1_000) -> None:
    """Spend all but `leave` stroops above the account's reserve."""
    state = read_accounts(net.server(), [account.public_key])[account.public_key]
    _pay(net, account, ADMIN.public_key, state.available - 100 - leave)


def test_a_dry_fee_account_stops_new_sends_and_a_top_up_resumes_them_applying_nothing_twice(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fee = net.new_account("dry fee account")
    config = channel_config(tmp_path, deployment, channels[:2], fee)
    backend = make_backend(config)
    ref, other = reference(), reference()
    backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)

    # Runs dry while an envelope is on its way: the network refuses it, it stays stored.
    send = backend.rpc.send_transaction

    def drained_first(envelope):
        _drain(net, fee)
        backend.rpc.send_transaction = send  # type: ignore[method-assign]
        return send(envelope)

    backend.rpc.send_transaction = drained_first  # type: ignore[method-assign]
    with pytest.raises(FeeAccountEmpty, match="top it up"):
        backend.fund(key="f1", contract_id=ref, amount=AMOUNT)
    stored = backend.store.get("f1")
    assert stored.state == "pending"

    # Nothing new is built or sent meanwhile; health warns.
    with caplog.at_level(logging.WARNING), pytest.raises(FeeAccountEmpty, match="top it up"):
        backend.create(key="c2", contract_id=other, funder=FUNDER, amount=AMOUNT)
    assert backend.store.get("c2") is None
    assert f"fee account {fee.public_key} holds" in caplog.text
    service = EscrowService.from_config(config, backend)
    health = service.health()
    assert health["status"] == "warning"
    assert any(fee.public_key in warning for warning in health["warnings"])

    _pay(net, ADMIN, fee.public_key, 100 * 10**7)  # the top-up
    assert backend.fund(key="f1", contract_id=ref, amount=AMOUNT).tx_hash == stored.tx_hash
    backend.create(key="c2", contract_id=other, funder=FUNDER, amount=AMOUNT)
    assert net.contract_events(deployment.contract, ref) == ["created", "funded"]
    assert net.contract_events(deployment.contract, other) == ["created"]
    assert service.health()["status"] == "ok"


# --- health and the operator's command line ----------------------------------------------------


def test_health_shows_each_channel_and_warns_of_low_balances(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    channels: list[Keypair],
    fee_account: Keypair,
) -> None:
    config = channel_config(tmp_path, deployment, channels[:3], fee_account)
    http = TestClient(create_app(config, make_backend(config)))
    health = http.get("/api/health").json()
    assert health["status"] == "ok"
    assert [c["account"] for c in health["channels"]] == [c.public_key for c in channels[:3]]
    for channel in health["channels"]:
        assert float(channel["balance_xlm"]) >= 1
        assert int(channel["sequence"]) > 0
        assert channel["in_flight"] is None
    assert health["fee_account"]["account"] == fee_account.public_key
    assert health["warnings"] == []

    low = channel_config(tmp_path, deployment, channels[:3], fee_account, low_balance=10**13)
    warned = TestClient(create_app(low, make_backend(low))).get("/api/health").json()
    assert warned["status"] == "warning"
    assert len(warned["warnings"]) == 4  # three channels and the fee account
    for secret in (OPERATOR.secret, fee_account.secret, *(c.secret for c in channels)):
        assert secret not in str(warned)


def test_the_cli_creates_lists_and_tops_up_channels(
    tmp_path: Path,
    net: Localnet,
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STELLAR_FUNDING_SECRET", ADMIN.secret)
    created = cli.main(
        [
            *("channels", "create", "--count", "2", "--fee-account"),
            *("--rpc-url", net.url, "--network-passphrase", PASSPHRASE),
        ]
    )
    out, err = capsys.readouterr()
    assert created == 0, err
    assert "shown once" in err
    settings = dict(line.split("=", 1) for line in out.splitlines())
    assert settings["STELLAR_CHANNELS"] == "2"
    secrets = settings["STELLAR_CHANNEL_SECRETS"].split(",")
    assert len(secrets) == 2

    for name, value in {
        "STELLAR_BACKEND": "soroban",
        "STELLAR_CONTRACT_API_KEY": API_KEY,
        "STELLAR_RPC_URL": net.url,
        "STELLAR_NETWORK_PASSPHRASE": PASSPHRASE,
        "STELLAR_CONTRACT_ADDRESS": deployment.contract,
        "STELLAR_OPERATOR_SECRET": OPERATOR.secret,
        "STELLAR_SERVICE_DB": str(tmp_path / "service.sqlite3"),
        "STELLAR_CHANNELS": "2",
        "STELLAR_CHANNEL_SECRETS": settings["STELLAR_CHANNEL_SECRETS"],
        "STELLAR_FEE_ACCOUNT_SECRET": settings["STELLAR_FEE_ACCOUNT_SECRET"],
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["channels"]) == 0
    listed = capsys.readouterr().out.splitlines()
    for secret, line in zip(secrets, listed, strict=False):
        assert line.startswith(f"channel  {Keypair.from_secret(secret).public_key}")
        assert "10.0000000 XLM" in line
        assert secret not in line
    assert listed[-1].startswith("fee")
    assert "100.0000000 XLM" in listed[-1]

    assert cli.main(["channels", "top-up", "--to", "12", "--fee-to", "100"]) == 0
    out = capsys.readouterr().out
    assert out.count("by 2.0000000 XLM") == 2  # the fee account holds its 100 already
    channel = Keypair.from_secret(secrets[0]).public_key
    assert read_accounts(net.server(), [channel])[channel].balance == 12 * 10**7
