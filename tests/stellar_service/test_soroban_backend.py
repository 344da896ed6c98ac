"""The soroban backend against the local Stellar network (contracts/localnet: the real Soroban
host running the contract's wasm, real signatures, sequence numbers and fees): every entry
point, every contract error as the contract numbers it, the token's refusals, a full lifecycle
with the token balances read from the ledger, races between writers, and P2/P7 under each of the
network's faults (one signed envelope per key, resent, never rebuilt while it could land)."""

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stellar_sdk import (
    Address,
    InvokeHostFunction,
    Keypair,
    MuxedAccount,
    TransactionBuilder,
    TransactionEnvelope,
    scval,
)
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.auth import authorize_entry
from stellar_sdk.sep.contract_spec import ContractSpec

from stellar_service.app import create_app
from stellar_service.backends.base import (
    CONTRACT_ERRORS,
    STATUSES,
    ContractError,
    Escrow,
    IdempotencyConflict,
    Unavailable,
)
from stellar_service.backends.scval import SIGNATURES
from stellar_service.backends.soroban import FeeTooHigh, SorobanBackend
from stellar_service.cli import CONSTRUCTOR, DEFAULT_WASM, REPO_DIR
from stellar_service.config import Config, ConfigError

from .localnet import (
    ARBITER,
    LEDGER_CLOSE_MS,
    OPERATOR,
    PASSPHRASE,
    SDK_ATTEMPTS,
    Deployment,
    Localnet,
    reference,
)

API_KEY = "test-api-key"
FUNDER = OPERATOR.public_key
AMOUNT = 1_500_000_000  # 150 KES in the token's units
MAX_FEE = 100_000_000  # 10 XLM: a create pays about 0.7 XLM of rent at pubnet's rates
CONFIRM_TIMEOUT = 3.0  # seconds a backend waits for a sent transaction (30 ledgers here)


def soroban_config(tmp_path: Path, deployment: Deployment, **overrides: object) -> Config:
    settings: dict = {
        "api_key": API_KEY,
        "backend": "soroban",
        "db_path": tmp_path / "stellar-service.sqlite3",
        "rpc_url": deployment.net.url,
        "network_passphrase": PASSPHRASE,
        "contract_address": deployment.contract,
        "operator_secret": OPERATOR.secret,
        "arbiter_secret": ARBITER.secret,
        "funder_account": FUNDER,
        "max_fee": MAX_FEE,
        "ledger_seconds": LEDGER_CLOSE_MS / 1000,
        **overrides,
    }
    return Config(**settings)


def make_backend(config: Config, **options: object) -> SorobanBackend:
    """A new backend on the config's store (a "restart" is simply another call)."""
    options = {"confirm_timeout": CONFIRM_TIMEOUT, "poll_interval": 0.1, **options}
    return SorobanBackend(config, **options)  # type: ignore[arg-type]


@pytest.fixture
def config(tmp_path: Path, deployment: Deployment) -> Config:
    return soroban_config(tmp_path, deployment)


@pytest.fixture
def soroban(config: Config, net: Localnet) -> SorobanBackend:
    return make_backend(config)


@pytest.fixture
def http(config: Config, soroban: SorobanBackend) -> TestClient:
    return TestClient(create_app(config, soroban), headers={"X-API-Key": API_KEY})


def _post(http: TestClient, operation: str, key: str, **body: object):
    return http.post(f"/api/escrow/{operation}", json=body, headers={"Idempotency-Key": key})


def _sequence(net: Localnet, account: str = FUNDER) -> int:
    return net.server().load_account(account).sequence


def _envelope(net: Localnet, tx_hash: str) -> TransactionEnvelope:
    found = net.transaction(tx_hash)
    assert found["status"] == "SUCCESS", found
    return TransactionEnvelope.from_xdr(found["envelopeXdr"], PASSPHRASE)


def _writes(net: Localnet, deployment: Deployment, ref: str) -> list[str]:
    """The contract's events for the escrow: one per write the ledger applied."""
    return net.contract_events(deployment.contract, ref)


def _create_and_fund(backend: SorobanBackend, ref: str, amount: int = AMOUNT) -> None:
    backend.create(key=f"create-{ref}", contract_id=ref, funder=FUNDER, amount=amount)
    backend.fund(key=f"fund-{ref}", contract_id=ref, amount=amount)


def _worker(net: Localnet, deployment: Deployment) -> Keypair:
    """A worker's own account with a KES trustline."""
    return net.new_account("worker", trust=deployment.asset)


# --- the whole lifecycle, as the network applies it --------------------------------------------


def test_a_lifecycle_of_signed_fee_paying_transactions_moves_the_tokens(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    worker = _worker(net, deployment)
    payee = MuxedAccount(worker.public_key, 42).account_muxed
    ref = reference()
    float_before = net.trustline_balance(FUNDER, deployment.asset)
    receipts = [
        soroban.create(key="create", contract_id=ref, funder=FUNDER, amount=AMOUNT),
        soroban.fund(key="fund", contract_id=ref, amount=AMOUNT),
    ]
    assert net.contract_balance(deployment.token, deployment.contract) >= AMOUNT
    receipts.append(soroban.assign(key="assign", contract_id=ref, payee=payee))
    receipts.append(soroban.release(key="release", contract_id=ref))

    assert [r.escrow.status for r in receipts] == ["funding", "funded", "funded", "released"]
    for receipt, function in zip(receipts, ["create", "fund", "assign", "release"], strict=True):
        envelope = _envelope(net, receipt.tx_hash)
        tx = envelope.transaction
        assert tx.source.account_id == OPERATOR.public_key
        OPERATOR.verify(envelope.hash(), envelope.signatures[0].signature)
        assert tx.fee == 100 + tx.soroban_data.resource_fee.int64  # inclusion + resource fee
        (operation,) = tx.operations
        assert isinstance(operation, InvokeHostFunction)
        invoke = operation.host_function.invoke_contract
        assert Address.from_xdr_sc_address(invoke.contract_address).address == deployment.contract
        assert invoke.function_name.sc_symbol.decode() == function
    # The payee went as a muxed ScAddress, which the contract split into account and id.
    assign = _envelope(net, receipts[2].tx_hash).transaction.operations[0]
    payee_arg = assign.host_function.invoke_contract.args[1]
    assert payee_arg.address.type == stellar_xdr.SCAddressType.SC_ADDRESS_TYPE_MUXED_ACCOUNT
    released = receipts[-1].escrow
    assert (released.payee, released.payee_id, released.released) == (worker.public_key, 42, AMOUNT)
    assert released == soroban.get(ref)

    # The token balances, read from the ledger: the worker got it all (no platform fee).
    assert net.trustline_balance(worker.public_key, deployment.asset) == AMOUNT
    assert net.trustline_balance(FUNDER, deployment.asset) == float_before - AMOUNT
    assert _writes(net, deployment, ref) == ["created", "funded", "assigned", "released"]

    sequence = _sequence(net)
    with pytest.raises(ContractError) as again:
        soroban.release(key="release-again", contract_id=ref)
    assert (again.value.code, again.value.number) == ("closed", 8)
    assert _sequence(net) == sequence  # refused in simulation: nothing was sent


def test_refund_returns_the_deposits_to_the_funder(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    float_before = net.trustline_balance(FUNDER, deployment.asset)
    _create_and_fund(soroban, ref)
    receipt = soroban.refund(key="refund", contract_id=ref)
    assert (receipt.escrow.status, receipt.escrow.refunded) == ("refunded", AMOUNT)
    assert net.trustline_balance(FUNDER, deployment.asset) == float_before
    assert _writes(net, deployment, ref) == ["created", "funded", "refunded"]


def test_resolve_carries_the_arbiters_signed_authorisation(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    worker = _worker(net, deployment)
    ref = reference()
    _create_and_fund(soroban, ref)
    soroban.dispute(key="dispute", contract_id=ref)
    with pytest.raises(ContractError) as refused:  # no payee yet
        soroban.resolve(key="resolve-early", contract_id=ref, to_payee=1, to_funder=AMOUNT - 1)
    assert refused.value.code == "no_payee"
    with pytest.raises(ContractError) as in_dispute:
        soroban.assign(key="assign", contract_id=ref, payee=worker.public_key)
    assert in_dispute.value.code == "in_dispute"

    receipt = soroban.resolve(key="resolve", contract_id=ref, to_payee=0, to_funder=AMOUNT)
    assert receipt.escrow.status == "resolved"
    (entry,) = _envelope(net, receipt.tx_hash).transaction.operations[0].auth
    credentials = entry.credentials.address or entry.credentials.address_v2
    assert credentials is not None  # the arbiter's own signature, checked by the host
    assert Address.from_xdr_sc_address(credentials.address).address == ARBITER.public_key
    assert _writes(net, deployment, ref) == ["created", "funded", "disputed", "resolved"]


def test_without_the_arbiters_key_resolve_is_not_sent(
    tmp_path: Path, net: Localnet, deployment: Deployment
) -> None:
    backend = make_backend(soroban_config(tmp_path, deployment, arbiter_secret=""))
    ref = reference()
    _create_and_fund(backend, ref)
    backend.dispute(key="dispute", contract_id=ref)
    with pytest.raises(Unavailable, match="cannot sign"):
        backend.resolve(key="resolve", contract_id=ref, to_payee=0, to_funder=AMOUNT)
    assert _writes(net, deployment, ref)[-1] == "disputed"


def test_get_is_a_simulation_and_sends_nothing(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    _create_and_fund(soroban, ref)
    sequence = _sequence(net)
    escrow = soroban.get(ref)
    assert (escrow.status, escrow.funded, escrow.payee, escrow.funder) == (
        "funded",
        AMOUNT,
        None,
        FUNDER,
    )
    with pytest.raises(ContractError) as missing:
        soroban.get(reference())
    assert (missing.value.code, missing.value.number) == ("not_found", 1)
    assert _sequence(net) == sequence


# --- every contract error, as the network reports it --------------------------------------------


def _error_numbers_cargo_asserts() -> dict[str, int]:
    """The contract's own numbering (contracts/escrow/src/errors.rs, which cargo test checks)."""
    source = (REPO_DIR / "contracts/escrow/src/errors.rs").read_text()
    return {
        re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower(): int(number)
        for name, number in re.findall(r"^\s*([A-Z][A-Za-z]+)\s*=\s*(\d+),", source, re.M)
    }


def _provoke(backend: SorobanBackend, deployment: Deployment, code: str) -> None:
    """Sets up an escrow and makes the one call the contract refuses with `code`."""
    ref = reference()

    def create(amount: int = AMOUNT) -> None:
        backend.create(key=f"c-{ref}", contract_id=ref, funder=FUNDER, amount=amount)

    def funded() -> None:
        _create_and_fund(backend, ref)

    if code == "not_found":
        backend.fund(key="x", contract_id=ref, amount=1)
    elif code == "already_exists":
        create()
        backend.create(key="x", contract_id=ref, funder=FUNDER, amount=5)
    elif code == "invalid_amount":  # the contract itself as the funder
        backend.create(key="x", contract_id=ref, funder=deployment.contract, amount=5)
    elif code == "over_funded":
        create()
        backend.fund(key="x", contract_id=ref, amount=AMOUNT + 1)
    elif code == "not_funding":
        funded()
        backend.fund(key="x", contract_id=ref, amount=1)
    elif code == "not_funded":
        create()
        backend.release(key="x", contract_id=ref)
    elif code == "no_payee":
        funded()
        backend.release(key="x", contract_id=ref)
    elif code == "closed":
        funded()
        backend.refund(key=f"r-{ref}", contract_id=ref)
        backend.refund(key="x", contract_id=ref)
    elif code == "not_disputed":
        funded()
        backend.resolve(key="x", contract_id=ref, to_payee=0, to_funder=AMOUNT)
    elif code == "invalid_split":
        funded()
        backend.dispute(key=f"d-{ref}", contract_id=ref)
        backend.resolve(key="x", contract_id=ref, to_payee=0, to_funder=AMOUNT - 1)
    elif code == "in_dispute":
        funded()
        backend.dispute(key=f"d-{ref}", contract_id=ref)
        backend.release(key="x", contract_id=ref)
    else:
        raise AssertionError(code)


# invalid_fee (11) is the constructor's: test_cli checks it through the network.
REACHABLE = [code for code in CONTRACT_ERRORS.values() if code != "invalid_fee"]


@pytest.mark.parametrize("code", REACHABLE)
def test_each_contract_error_is_the_number_cargo_test_asserts(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment, code: str
) -> None:
    numbers = _error_numbers_cargo_asserts()
    with pytest.raises(ContractError) as refused:
        _provoke(soroban, deployment, code)
    assert refused.value.code == code
    assert refused.value.number == numbers[code]
    assert CONTRACT_ERRORS[numbers[code]] == code
    assert soroban.store.get("x") is None  # a definite no in simulation: nothing stored


def test_the_error_numbers_are_the_contracts() -> None:
    assert {number: code for code, number in _error_numbers_cargo_asserts().items()} == (
        CONTRACT_ERRORS
    )


# --- the token's refusals: the SAC numbers its errors its own way ----------------------------


def test_a_funder_short_of_tokens_is_the_tokens_refusal_and_nothing_is_sent(
    http: TestClient, net: Localnet, deployment: Deployment, soroban: SorobanBackend
) -> None:
    ref = reference()
    more_than_the_float = net.trustline_balance(FUNDER, deployment.asset) + 1
    created = _post(http, "create", "k1", contract_id=ref, amount=more_than_the_float)
    assert created.status_code == 200, created.text
    sequence = _sequence(net)
    for attempt in range(2):
        short = _post(http, "fund", "k2", contract_id=ref, amount=more_than_the_float)
        assert short.status_code == 409, (attempt, short.text)
        assert short.json()["error"]["code"] == "token_insufficient_balance"  # not invalid_split
    assert _sequence(net) == sequence
    assert soroban.get(ref).funded == 0
    assert _writes(net, deployment, ref) == ["created"]


def test_a_payee_without_a_trustline_is_a_definite_no_never_retried(
    http: TestClient, net: Localnet, deployment: Deployment, soroban: SorobanBackend
) -> None:
    no_trustline = net.new_account("worker without a trustline")
    ref = reference()
    _create_and_fund(soroban, ref)
    soroban.assign(key="assign", contract_id=ref, payee=no_trustline.public_key)
    sequence = _sequence(net)
    for attempt in range(2):
        refused = _post(http, "release", "k1", contract_id=ref)
        assert refused.status_code == 409, attempt
        assert refused.json()["error"]["code"] == "token_no_trustline"
    assert _sequence(net) == sequence
    assert soroban.get(ref).status == "funded"


# --- races: another writer changes the escrow between simulation and ledger --------------------


def _another_writer(net: Localnet, deployment: Deployment, function: str, args: list) -> None:
    """The same call from another source account, authorised by the operator's signed
    authorisation entry (as a second service instance on a channel account would send it)."""
    helper = net.new_account("another writer")
    server = net.server()
    tx = (
        TransactionBuilder(server.load_account(helper.public_key), PASSPHRASE, 100)
        .append_invoke_contract_function_op(deployment.contract, function, args)
        .set_timeout(60)
        .build()
    )
    simulation = server.simulate_transaction(tx)
    assert simulation.error is None, simulation.error
    prepared = server.prepare_transaction(tx, simulation)
    operation = prepared.transaction.operations[0]
    until = simulation.latest_ledger + 100
    operation.auth = [authorize_entry(e, OPERATOR, until, PASSPHRASE) for e in operation.auth]
    # The signature check costs instructions the recording simulation could not see.
    prepared = server.prepare_transaction(prepared, server.simulate_transaction(prepared))
    prepared.sign(helper)
    net.submit(prepared)


def _held(net: Localnet, ledgers: int = 15) -> None:
    """The next transaction the network accepts waits `ledgers` ledgers before it is applied."""
    net.faults(holdTransactions={"count": 1, "ledgers": ledgers})


def test_fund_racing_another_fund_fails_in_the_ledger_with_the_contracts_error(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    soroban.create(key="create", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    _held(net, 20)
    with pytest.raises(Unavailable, match="pending"):  # simulated fine, then held
        make_backend(soroban.config, confirm_timeout=0.5).fund(
            key="fund", contract_id=ref, amount=AMOUNT
        )
    args = [scval.to_symbol(ref), scval.to_int128(AMOUNT // 2)]
    _another_writer(net, deployment, "fund", args)  # lands first
    for _ in range(2):  # recorded and replayed: one transaction, never rebuilt
        with pytest.raises(ContractError) as refused:
            soroban.fund(key="fund", contract_id=ref, amount=AMOUNT)
        assert (refused.value.code, refused.value.number) == ("over_funded", 4)
    stored = soroban.store.get("fund")
    assert stored is not None
    assert stored.state == "rejected"
    assert net.transaction(stored.tx_hash)["status"] == "FAILED"
    assert soroban.get(ref).funded == AMOUNT // 2
    assert _writes(net, deployment, ref) == ["created", "funded"]
    assert soroban.store.abandoned() == []


def test_release_racing_a_refund_fails_in_the_ledger_as_closed(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    worker = _worker(net, deployment)
    ref = reference()
    _create_and_fund(soroban, ref)
    soroban.assign(key="assign", contract_id=ref, payee=worker.public_key)
    _held(net, 20)
    with pytest.raises(Unavailable):
        make_backend(soroban.config, confirm_timeout=0.5).release(key="release", contract_id=ref)
    _another_writer(net, deployment, "refund", [scval.to_symbol(ref)])
    with pytest.raises(ContractError) as refused:
        soroban.release(key="release", contract_id=ref)
    assert refused.value.code == "closed"
    assert soroban.get(ref).status == "refunded"
    assert net.trustline_balance(worker.public_key, deployment.asset) == 0


def test_a_trustline_removed_before_the_release_lands_is_the_tokens_refusal(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    worker = _worker(net, deployment)
    ref = reference()
    _create_and_fund(soroban, ref)
    soroban.assign(key="assign", contract_id=ref, payee=worker.public_key)
    _held(net, 20)
    with pytest.raises(Unavailable):
        make_backend(soroban.config, confirm_timeout=0.5).release(key="release", contract_id=ref)
    server = net.server()
    untrust = (
        TransactionBuilder(server.load_account(worker.public_key), PASSPHRASE, 100)
        .append_change_trust_op(deployment.asset, limit="0")
        .set_timeout(60)
        .build()
    )
    untrust.sign(worker)
    net.submit(untrust)
    with pytest.raises(ContractError) as refused:
        soroban.release(key="release", contract_id=ref)
    assert (refused.value.code, refused.value.number) == ("token_no_trustline", None)
    assert soroban.get(ref).status == "funded"


# --- what the backend must never do, and what the network refuses ----------------------------


def test_a_replayed_key_returns_the_first_receipt_without_sending(
    soroban: SorobanBackend, net: Localnet
) -> None:
    ref = reference()
    first = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    soroban.fund(key="f1", contract_id=ref, amount=400)
    sequence = _sequence(net)
    again = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert again == first
    assert again.escrow.funded == 0
    assert _sequence(net) == sequence
    with pytest.raises(IdempotencyConflict):
        soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=999)


def test_bad_input_is_refused_before_anything_is_built(
    soroban: SorobanBackend, net: Localnet
) -> None:
    sequence = _sequence(net)
    ref = reference()
    with pytest.raises(ValueError, match="muxed address"):
        soroban.assign(key="a", contract_id=ref, payee="not-an-address")
    with pytest.raises(ValueError, match="not a valid address"):  # `Address` cannot be muxed
        soroban.create(
            key="c", contract_id=ref, funder=MuxedAccount(FUNDER, 1).account_muxed, amount=5
        )
    with pytest.raises(TypeError):
        soroban.fund(key="f", contract_id=ref, amount=10.5)  # type: ignore[arg-type]
    assert _sequence(net) == sequence


def test_a_fee_above_the_cap_is_refused_and_nothing_sent(
    tmp_path: Path, net: Localnet, deployment: Deployment
) -> None:
    backend = make_backend(soroban_config(tmp_path, deployment, max_fee=10_000))
    sequence = _sequence(net)
    with pytest.raises(FeeTooHigh, match="STELLAR_MAX_FEE"):
        backend.create(key="c1", contract_id=reference(), funder=FUNDER, amount=AMOUNT)
    assert _sequence(net) == sequence
    assert backend.store.get("c1") is None


def test_the_network_refuses_a_foreign_signature_a_wrong_sequence_and_a_low_fee(
    soroban: SorobanBackend, net: Localnet
) -> None:
    receipt = soroban.create(key="c1", contract_id=reference(), funder=FUNDER, amount=AMOUNT)
    server = net.server()

    def sent(envelope: TransactionEnvelope, *signers: Keypair) -> str:
        envelope.signatures = []
        for signer in signers:
            envelope.sign(signer)
        answer = server.send_transaction(envelope)
        if answer.status.value != "ERROR":
            return answer.status.value
        return stellar_xdr.TransactionResult.from_xdr(answer.error_result_xdr).result.code.name

    envelope = _envelope(net, receipt.tx_hash)
    envelope.transaction.sequence += 1  # the account's next: only the signer is wrong
    assert sent(envelope, Keypair.random()) == "txBAD_AUTH"
    assert sent(envelope, OPERATOR, Keypair.random()) == "txBAD_AUTH_EXTRA"
    envelope.transaction.sequence += 1  # properly signed, but skips a sequence number
    assert sent(envelope, OPERATOR) == "txBAD_SEQ"
    envelope.transaction.sequence -= 1
    envelope.transaction.fee = envelope.transaction.soroban_data.resource_fee.int64 + 99
    assert sent(envelope, OPERATOR) == "txINSUFFICIENT_FEE"
    envelope.transaction.soroban_data.resource_fee = stellar_xdr.Int64(1000)
    envelope.transaction.fee = 1100
    assert sent(envelope, OPERATOR) == "txSOROBAN_INVALID"  # below the non-refundable fee
    assert sent(_envelope(net, receipt.tx_hash), OPERATOR) == "txBAD_SEQ"  # applied already


# --- faults: one operation, whatever happens on the wire --------------------------------------


def test_a_send_answered_503_then_a_retry_applies_one_transaction(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    net.faults(unavailableFor={"method": "sendTransaction", "count": SDK_ATTEMPTS})
    with pytest.raises(Unavailable, match="sendTransaction"):
        soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    stored = soroban.store.get("c1")
    assert stored is not None
    assert stored.state == "pending"  # stored before the send
    receipt = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash == stored.tx_hash  # the same envelope, sent again
    assert _writes(net, deployment, ref) == ["created"]


def test_an_applied_transaction_whose_answer_was_lost_is_not_sent_again(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    net.faults(loseResponses=SDK_ATTEMPTS)
    with pytest.raises(Unavailable):
        soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    stored = soroban.store.get("c1")
    assert stored is not None
    net.wait_ledgers(2)
    assert net.transaction(stored.tx_hash)["status"] == "SUCCESS"  # applied: the service knows not
    receipt = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash == stored.tx_hash
    assert _writes(net, deployment, ref) == ["created"]


def test_pending_too_long_is_unavailable_then_the_retry_finds_it(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    _held(net, 40)  # 4 s, past the confirmation deadline
    with pytest.raises(Unavailable, match="pending"):
        soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert _writes(net, deployment, ref) == []
    receipt = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.escrow.amount == AMOUNT
    assert receipt.tx_hash == soroban.store.get("c1").tx_hash
    assert _writes(net, deployment, ref) == ["created"]


def test_a_dropped_transaction_is_sent_again_unchanged(
    soroban: SorobanBackend, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    net.faults(dropTransactions=1)
    with pytest.raises(Unavailable):
        soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    first = soroban.store.get("c1")
    assert first is not None
    assert net.transaction(first.tx_hash)["status"] == "NOT_FOUND"
    receipt = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash == first.tx_hash  # still valid: the very same envelope
    assert soroban.store.abandoned() == []
    assert _writes(net, deployment, ref) == ["created"]


def _past(net: Localnet, max_time: int) -> None:
    """Waits until the ledger's clock (the wall clock's) has passed `max_time`."""
    while int(net.call("getLatestLedger")["closeTime"]) <= max_time:
        time.sleep(0.2)


def test_an_envelope_is_rebuilt_only_once_its_time_bounds_have_passed(
    config: Config, net: Localnet, deployment: Deployment
) -> None:
    soroban = make_backend(config, tx_timeout=4, confirm_timeout=1.0)
    ref = reference()
    net.faults(dropTransactions=2)
    for _ in range(2):  # still valid: the same envelope again, dropped again
        with pytest.raises(Unavailable):
            soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    first = soroban.store.get("c1")
    assert first is not None
    _past(net, first.max_time)  # the ledger's clock passes the envelope's upper time bound
    refused = net.server().send_transaction(first.envelope)
    code = stellar_xdr.TransactionResult.from_xdr(refused.error_result_xdr).result.code
    assert code == stellar_xdr.TransactionResultCode.txTOO_LATE
    receipt = soroban.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash != first.tx_hash
    assert soroban.store.abandoned() == [("c1", first.tx_hash, "expired unseen")]
    assert _writes(net, deployment, ref) == ["created"]


def test_an_unreachable_rpc_is_unavailable_and_nothing_is_stored(
    soroban: SorobanBackend, net: Localnet, config: Config
) -> None:
    ref = reference()
    net.faults(unavailable=1000)
    with pytest.raises(Unavailable, match="getHealth"):
        soroban.health()
    with pytest.raises(Unavailable):
        soroban.get(ref)
    http = TestClient(create_app(config, soroban), headers={"X-API-Key": API_KEY})
    assert _post(http, "create", "k1", contract_id=ref, amount=AMOUNT).status_code == 503
    assert http.get("/api/health").status_code == 503
    assert soroban.store.get("k1") is None
    net.faults(unavailable=0)
    assert _post(http, "create", "k1", contract_id=ref, amount=AMOUNT).status_code == 200


# --- restarts and expiry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        # died before it landed / after it was applied
        {"unavailableFor": {"method": "sendTransaction", "count": SDK_ATTEMPTS}},
        {"loseResponses": SDK_ATTEMPTS},
    ],
)
def test_a_restarted_backend_finishes_the_stored_envelope_and_builds_none(
    config: Config, net: Localnet, deployment: Deployment, fault: dict
) -> None:
    ref = reference()
    first = make_backend(config)
    net.faults(**fault)
    with pytest.raises(Unavailable):
        first.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    stored = first.store.get("c1")
    assert stored is not None
    assert stored.state == "pending"

    restarted = make_backend(config)  # a new process on the same store
    receipt = restarted.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert receipt.tx_hash == stored.tx_hash
    assert _writes(net, deployment, ref) == ["created"]


def test_another_key_waits_for_the_pending_envelope_first(
    config: Config, net: Localnet, deployment: Deployment
) -> None:
    backend = make_backend(config)
    ref, other = reference(), reference()
    net.faults(unavailableFor={"method": "sendTransaction", "count": SDK_ATTEMPTS})
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    # A new write must not take the sequence number the stored envelope holds: it is settled
    # (resent and applied) before the new one is built.
    backend.create(key="c2", contract_id=other, funder=FUNDER, amount=5)
    assert _writes(net, deployment, ref) == ["created"]
    assert _writes(net, deployment, other) == ["created"]
    assert backend.store.get("c1").state == "applied"


def test_no_new_transaction_while_another_is_still_queued(
    config: Config, net: Localnet, deployment: Deployment
) -> None:
    backend = make_backend(config, confirm_timeout=1.0)
    ref, other = reference(), reference()
    _held(net, 40)  # c1 sits in the queue for 4 s
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    with pytest.raises(Unavailable):  # c1 is still queued: c2 is not even built
        backend.create(key="c2", contract_id=other, funder=FUNDER, amount=5)
    assert backend.store.get("c2") is None
    net.wait_ledgers(40)
    backend.create(key="c2", contract_id=other, funder=FUNDER, amount=5)
    assert backend.store.get("c1").state == "applied"
    assert _writes(net, deployment, ref) == ["created"]
    assert _writes(net, deployment, other) == ["created"]


def test_concurrent_writes_from_two_workers_take_turns_on_the_sequence_number(
    config: Config, net: Localnet, deployment: Deployment
) -> None:
    workers = [make_backend(config), make_backend(config)]  # one store, two processes
    references = [reference() for _ in range(6)]
    barrier = threading.Barrier(len(references))

    def create(index: int) -> str:
        barrier.wait()
        ref = references[index]
        return workers[index % 2].create(key=ref, contract_id=ref, funder=FUNDER, amount=9).tx_hash

    with ThreadPoolExecutor(len(references)) as pool:
        hashes = list(pool.map(create, range(len(references))))
    assert len(set(hashes)) == len(references)
    for ref in references:
        assert _writes(net, deployment, ref) == ["created"]


def test_an_expired_envelope_beyond_the_rpcs_history_is_never_rebuilt(
    config: Config, net: Localnet, deployment: Deployment
) -> None:
    backend = make_backend(config, tx_timeout=3)
    ref = reference()
    net.faults(loseResponses=SDK_ATTEMPTS)  # applied, answer lost
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    stored = backend.store.get("c1")
    assert stored is not None
    _past(net, stored.max_time)
    net.faults(forgetHistory=True)  # the RPC no longer knows the transaction landed
    for _ in range(2):
        with pytest.raises(Unavailable, match="by hand"):
            backend.create(key="c1", contract_id=ref, funder=FUNDER, amount=AMOUNT)
    assert backend.store.abandoned() == []
    assert backend.get(ref).amount == AMOUNT  # applied once, and only once


# --- through the HTTP service -----------------------------------------------------------------


def test_the_service_runs_an_escrow_through_the_soroban_backend(
    http: TestClient, net: Localnet, deployment: Deployment
) -> None:
    worker = _worker(net, deployment)
    ref = reference()
    payee = MuxedAccount(worker.public_key, 42).account_muxed
    assert _post(http, "create", "k1", contract_id=ref, amount=AMOUNT).status_code == 200
    assert _post(http, "fund", "k2", contract_id=ref, amount=AMOUNT).status_code == 200
    assert _post(http, "assign", "k3", contract_id=ref, payee=payee).status_code == 200
    released = _post(http, "release", "k4", contract_id=ref)
    assert released.status_code == 200, released.text
    assert net.transaction(released.json()["tx_hash"])["status"] == "SUCCESS"
    shown = http.get(f"/api/escrow/{ref}").json()
    assert (shown["status"], shown["released"], shown["payee_id"]) == ("released", AMOUNT, 42)
    again = _post(http, "release", "k5", contract_id=ref)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "closed"
    bad = _post(http, "create", "k6", contract_id=reference(), amount=-5)
    assert bad.status_code == 422
    assert _writes(net, deployment, ref) == ["created", "funded", "assigned", "released"]
    assert http.get("/api/health").json()["network_ok"] is True


def test_the_service_answers_503_while_pending_and_then_the_result(
    http: TestClient, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    _held(net, 40)
    first = _post(http, "create", "k1", contract_id=ref, amount=AMOUNT)
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "unavailable"
    second = _post(http, "create", "k1", contract_id=ref, amount=AMOUNT)
    assert second.status_code == 200
    assert net.transaction(second.json()["tx_hash"])["status"] == "SUCCESS"
    assert _writes(net, deployment, ref) == ["created"]


def test_the_service_maps_a_contract_error_and_applies_nothing(
    http: TestClient, net: Localnet, deployment: Deployment
) -> None:
    ref = reference()
    assert _post(http, "create", "k1", contract_id=ref, amount=AMOUNT).status_code == 200
    over = _post(http, "fund", "k2", contract_id=ref, amount=AMOUNT + 1)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "over_funded"
    missing = _post(http, "release", "k3", contract_id=reference())
    assert missing.status_code == 404
    assert _writes(net, deployment, ref) == ["created"]


def test_the_service_built_from_its_config_reaches_the_rpc_over_http(
    tmp_path: Path, net: Localnet, deployment: Deployment
) -> None:
    config = soroban_config(tmp_path, deployment)
    http = TestClient(create_app(config), headers={"X-API-Key": API_KEY})  # build_backend
    ref = reference()
    created = _post(http, "create", "k1", contract_id=ref, amount=AMOUNT)
    assert created.status_code == 200, created.text
    assert http.get(f"/api/escrow/{ref}").json()["amount"] == AMOUNT
    assert (tmp_path / "stellar-service-tx.sqlite3").is_file()  # the envelope store


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_never_reach_logs_answers_or_errors(
    tmp_path: Path, net: Localnet, deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = soroban_config(tmp_path, deployment)
    backend = make_backend(config)
    http = TestClient(create_app(config, backend), headers={"X-API-Key": API_KEY})
    ref = reference()
    texts = [repr(config), repr(backend.__dict__)]
    net.faults(unavailableFor={"method": "sendTransaction", "count": SDK_ATTEMPTS})
    texts.append(_post(http, "create", "k1", contract_id=ref, amount=AMOUNT).text)
    texts.append(_post(http, "create", "k1", contract_id=ref, amount=AMOUNT).text)
    texts.append(_post(http, "fund", "k2", contract_id=ref, amount=AMOUNT + 1).text)
    texts.append(http.get("/api/health").text)
    for bad in (OPERATOR.secret[:-1] + "A", "S" + "x" * 55):
        with pytest.raises(ConfigError) as invalid:
            make_backend(soroban_config(tmp_path, deployment, operator_secret=bad))
        texts.append(str(invalid.value))
        assert bad not in str(invalid.value)
    texts.extend(record.getMessage() for record in caplog.records)
    assert any("sendTransaction" in text for text in texts)  # the failure was reported
    for text in texts:
        assert OPERATOR.secret not in text
        assert ARBITER.secret not in text


# --- drift guard: the built contract's own interface ------------------------------------------

SPEC_TYPES = {
    "symbol": "SC_SPEC_TYPE_SYMBOL",
    "address": "SC_SPEC_TYPE_ADDRESS",
    "muxed_address": "SC_SPEC_TYPE_MUXED_ADDRESS",
    "i128": "SC_SPEC_TYPE_I128",
}


@pytest.mark.wasm
def test_the_encodings_match_the_built_contracts_spec() -> None:
    spec = ContractSpec.from_wasm_file(DEFAULT_WASM)
    functions = {f.name.sc_symbol.decode(): f for f in spec.functions}
    for name, signature in SIGNATURES.items():
        inputs = [(i.name.decode(), i.type.type.name) for i in functions[name].inputs]
        assert inputs == [(arg, SPEC_TYPES[kind]) for arg, kind in signature], name
    constructor = [i.name.decode() for i in functions["__constructor"].inputs]
    assert tuple(constructor) == CONSTRUCTOR
    (escrow,) = [s for s in spec.structs if s.name.decode() == "Escrow"]
    fields = {f.name.decode() for f in escrow.fields}
    assert fields == set(Escrow.__dataclass_fields__) - {"contract_id"}
    (status,) = [e for e in spec.enums if e.name.decode() == "Status"]
    assert [(c.name.decode().lower(), c.value.uint32) for c in status.cases] == [
        (name, number) for number, name in enumerate(STATUSES)
    ]
    (errors,) = spec.error_enums
    snake = {
        c.value.uint32: re.sub(r"(?<!^)([A-Z])", r"_\1", c.name.decode()).lower()
        for c in errors.cases
    }
    assert snake == CONTRACT_ERRORS
