"""The soroban backend against the fake Stellar RPC: what it sends (contract, function, Soroban
argument types, signer, fee), how it keeps P2/P7 (one signed envelope per key, resent, never
rebuilt while it could land), and that secrets stay out of logs and answers."""

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stellar_sdk import Address, InvokeHostFunction, Keypair, MuxedAccount, TransactionEnvelope
from stellar_sdk import xdr as stellar_xdr
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
from stellar_service.backends.soroban import FeeTooHigh, SorobanBackend
from stellar_service.cli import CONSTRUCTOR, DEFAULT_WASM
from stellar_service.config import Config, ConfigError
from stellar_service.fake_rpc import (
    BALANCE_ERROR,
    BASE_FEE,
    MIN_RESOURCE_FEE,
    TRUSTLINE_MISSING_ERROR,
    FakeStellarRpc,
)
from stellar_service.scval import SIGNATURES

from .fake_rpc_fixtures import (
    API_KEY,
    ARBITER,
    CONTRACT,
    OPERATOR,
    PASSPHRASE,
    POLLS,
    config_fixture,  # noqa: F401 (fixtures)
    fake_fixture,  # noqa: F401
    make_backend,
    make_fake,
    soroban_config,
    soroban_fixture,  # noqa: F401
)

REF = "ESCROW_7K3M9QXA"
OTHER = "ESCROW_8M4N0RYB"
WORKER = Keypair.from_raw_ed25519_seed(b"w" * 32).public_key
WORKER_MUXED = MuxedAccount(WORKER, 42).account_muxed
FUNDER = OPERATOR.public_key


def _envelope(fake: FakeStellarRpc, tx_hash: str) -> TransactionEnvelope:
    return TransactionEnvelope.from_xdr(fake.envelopes[tx_hash], PASSPHRASE)


def _create_and_fund(backend: SorobanBackend, reference: str = REF, amount: int = 1000) -> None:
    backend.create(key=f"create-{reference}", contract_id=reference, funder=FUNDER, amount=amount)
    backend.fund(key=f"fund-{reference}", contract_id=reference, amount=amount)


# --- every entry point sends the right invocation ---------------------------------------------


def test_each_write_invokes_the_contract_with_typed_arguments_signed_by_the_operator(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    _create_and_fund(soroban)
    soroban.assign(key="assign", contract_id=REF, payee=WORKER_MUXED)
    released = soroban.release(key="release", contract_id=REF)
    _create_and_fund(soroban, OTHER, 500)
    soroban.dispute(key="dispute", contract_id=OTHER)
    with pytest.raises(ContractError) as refused:  # no payee on OTHER yet
        soroban.resolve(key="resolve-early", contract_id=OTHER, to_payee=200, to_funder=300)
    assert refused.value.code == "no_payee"
    soroban.resolve(key="resolve", contract_id=OTHER, to_payee=0, to_funder=500)

    assert [(a.function, a.args) for a in fake.writes()] == [
        ("create", {"reference": REF, "funder": FUNDER, "amount": 1000}),
        ("fund", {"reference": REF, "amount": 1000}),
        ("assign", {"reference": REF, "payee": WORKER_MUXED}),
        ("release", {"reference": REF}),
        ("create", {"reference": OTHER, "funder": FUNDER, "amount": 500}),
        ("fund", {"reference": OTHER, "amount": 500}),
        ("dispute", {"reference": OTHER}),
        ("resolve", {"reference": OTHER, "to_payee": 0, "to_funder": 500}),
    ]
    assert fake.rejected == []
    assert len(fake.sent) == len(set(fake.sent)) == 8  # the refused resolve was never sent
    for tx_hash in fake.sent:
        envelope = _envelope(fake, tx_hash)
        tx = envelope.transaction
        assert tx.source.account_id == OPERATOR.public_key
        OPERATOR.verify(envelope.hash(), envelope.signatures[0].signature)
        assert tx.fee == BASE_FEE + MIN_RESOURCE_FEE
        (operation,) = tx.operations
        assert isinstance(operation, InvokeHostFunction)
        invoke = operation.host_function.invoke_contract
        assert invoke.contract_address.to_xdr() == _contract_sc_address()
    # The payee went as a muxed ScAddress (protocol 23), which the contract splits.
    assign = _envelope(fake, fake.sent[2]).transaction.operations[0]
    payee = assign.host_function.invoke_contract.args[1]
    assert payee.address.type == stellar_xdr.SCAddressType.SC_ADDRESS_TYPE_MUXED_ACCOUNT
    assert released.escrow == fake.escrow(REF)
    assert (released.escrow.payee, released.escrow.payee_id) == (WORKER, 42)
    assert released.escrow.status == "released"
    assert released.tx_hash == fake.sent[3]


def test_refund(soroban: SorobanBackend, fake: FakeStellarRpc) -> None:
    _create_and_fund(soroban)
    receipt = soroban.refund(key="refund", contract_id=REF)
    assert receipt.escrow.status == "refunded"
    assert receipt.escrow.refunded == 1000
    assert fake.writes()[-1].function == "refund"


def test_get_decodes_the_contracts_escrow_without_sending(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    _create_and_fund(soroban)
    soroban.assign(key="assign", contract_id=REF, payee=WORKER)
    sent = list(fake.sent)
    escrow = soroban.get(REF)
    assert escrow == fake.escrow(REF)
    assert (escrow.status, escrow.funded, escrow.payee, escrow.payee_id) == (
        "funded",
        1000,
        WORKER,
        None,
    )
    with pytest.raises(ContractError) as missing:
        soroban.get(OTHER)
    assert missing.value.code == "not_found"
    assert fake.sent == sent


def test_a_contract_error_in_simulation_is_a_definite_no_and_nothing_is_sent(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    for attempt in range(2):
        with pytest.raises(ContractError) as refused:
            soroban.fund(key="over", contract_id=REF, amount=1001)
        assert refused.value.code == "over_funded", attempt
    with pytest.raises(ContractError) as exists:
        soroban.create(key="c2", contract_id=REF, funder=FUNDER, amount=5)
    assert exists.value.code == "already_exists"
    assert len(fake.sent) == 1
    assert [a.function for a in fake.applied] == ["create"]
    assert soroban.store.get("over") is None  # nothing stored: a later retry may still succeed


def test_a_replayed_key_returns_the_first_receipt_without_sending(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    first = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    soroban.fund(key="f1", contract_id=REF, amount=400)
    again = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert again == first
    assert again.escrow.funded == 0
    assert len(fake.sent) == 2
    with pytest.raises(IdempotencyConflict):
        soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=999)


def test_bad_input_is_refused_before_anything_is_built(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    with pytest.raises(ValueError, match="muxed address"):
        soroban.assign(key="a", contract_id=REF, payee="not-an-address")
    with pytest.raises(ValueError, match="not a valid address"):  # `Address` cannot be muxed
        soroban.create(key="c", contract_id=REF, funder=WORKER_MUXED, amount=5)
    with pytest.raises(TypeError):
        soroban.fund(key="f", contract_id=REF, amount=10.5)  # type: ignore[arg-type]
    assert fake.simulated == []
    assert fake.sent == []


def test_a_fee_above_the_cap_is_refused_and_nothing_sent(
    tmp_path: Path, fake: FakeStellarRpc
) -> None:
    backend = make_backend(soroban_config(tmp_path, max_fee=MIN_RESOURCE_FEE), fake)
    with pytest.raises(FeeTooHigh, match="STELLAR_MAX_FEE"):
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert fake.sent == []
    assert backend.store.get("c1") is None


def test_resolve_carries_the_arbiters_signed_authorisation(tmp_path: Path) -> None:
    fake = make_fake(tmp_path, arbiter=ARBITER.public_key)
    backend = make_backend(soroban_config(tmp_path, arbiter_secret=ARBITER.secret), fake)
    _create_and_fund(backend)
    backend.assign(key="assign", contract_id=REF, payee=WORKER)
    backend.dispute(key="dispute", contract_id=REF)
    receipt = backend.resolve(key="resolve", contract_id=REF, to_payee=600, to_funder=400)
    assert receipt.escrow.status == "resolved"
    assert fake.rejected == []
    (entry,) = _envelope(fake, receipt.tx_hash).transaction.operations[0].auth
    assert entry.credentials.address_v2 is not None  # signed by the arbiter, checked by the fake


def test_without_the_arbiters_key_resolve_is_not_sent(tmp_path: Path) -> None:
    fake = make_fake(tmp_path, arbiter=ARBITER.public_key)
    backend = make_backend(soroban_config(tmp_path), fake)  # no STELLAR_ARBITER_SECRET
    _create_and_fund(backend)
    backend.dispute(key="dispute", contract_id=REF)
    with pytest.raises(Unavailable, match="cannot sign"):
        backend.resolve(key="resolve", contract_id=REF, to_payee=0, to_funder=1000)
    assert fake.writes()[-1].function == "dispute"


# --- who refused: our contract, or the token it calls ---------------------------------------
# The token (a Stellar Asset Contract) numbers its errors its own way: its BalanceError is 10,
# like our InvalidSplit, and the host logs it again under our contract's id as it passes up.


def test_a_funder_short_of_tokens_is_the_tokens_refusal_and_nothing_is_sent(
    tmp_path: Path, config: Config
) -> None:
    fake = make_fake(tmp_path, float_amount=600)
    backend = make_backend(config, fake)
    http = TestClient(create_app(config, backend), headers={"X-API-Key": API_KEY})
    assert _post(http, "create", "k1", contract_id=REF, amount=1000).status_code == 200
    simulations, sent = len(fake.simulated), list(fake.sent)
    short = _post(http, "fund", "k2", contract_id=REF, amount=1000)
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "token_insufficient_balance"  # not invalid_split
    assert len(fake.simulated) == simulations + 1
    assert fake.sent == sent
    assert [a.function for a in fake.writes()] == ["create"]
    assert fake.escrow(REF).funded == 0
    assert backend.store.get("k2") is None


def test_a_payee_without_a_trustline_is_a_definite_no_never_retried(
    http: TestClient, fake: FakeStellarRpc, soroban: SorobanBackend
) -> None:
    _create_and_fund(soroban)
    soroban.assign(key="assign", contract_id=REF, payee=WORKER)
    simulations, sent = len(fake.simulated), list(fake.sent)
    fake.fail_next_call(TRUSTLINE_MISSING_ERROR, by_token=True)
    for attempt in range(2):  # the retry replays the recorded answer
        refused = _post(http, "release", "k1", contract_id=REF)
        assert refused.status_code == 409, attempt
        assert refused.json()["error"]["code"] == "token_no_trustline"
    assert len(fake.simulated) == simulations + 1
    assert fake.sent == sent
    assert fake.escrow(REF).status == "funded"


def test_error_10_from_the_token_and_from_our_contract_are_told_apart(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    _create_and_fund(soroban)
    soroban.dispute(key="dispute", contract_id=REF)
    fake.fail_next_call(BALANCE_ERROR, by_token=True)
    with pytest.raises(ContractError) as token:
        soroban.resolve(key="r1", contract_id=REF, to_payee=0, to_funder=1000)
    assert (token.value.code, token.value.number) == ("token_insufficient_balance", None)
    with pytest.raises(ContractError) as ours:  # the contract's own InvalidSplit
        soroban.resolve(key="r2", contract_id=REF, to_payee=0, to_funder=999)
    assert (ours.value.code, ours.value.number) == ("invalid_split", 10)
    # A token error with no definite meaning here proves nothing: retry later.
    fake.fail_next_call(12, by_token=True)  # the token's OverflowError
    with pytest.raises(Unavailable):
        soroban.resolve(key="r3", contract_id=REF, to_payee=0, to_funder=1000)
    assert [a.function for a in fake.writes()][-1] == "dispute"


@pytest.mark.parametrize(
    ("number", "by_token", "code"),
    [
        (10, False, "invalid_split"),
        (BALANCE_ERROR, True, "token_insufficient_balance"),
        (TRUSTLINE_MISSING_ERROR, True, "token_no_trustline"),
    ],
)
def test_a_failed_transaction_is_attributed_by_contract_id_too(
    soroban: SorobanBackend, fake: FakeStellarRpc, number: int, by_token: bool, code: str
) -> None:
    _create_and_fund(soroban)
    soroban.assign(key="assign", contract_id=REF, payee=WORKER)
    fake.fail_next_apply(number, by_token=by_token)  # passes simulation, fails in the ledger
    for _ in range(2):  # recorded and replayed: one transaction, never rebuilt
        with pytest.raises(ContractError) as refused:
            soroban.release(key="release", contract_id=REF)
        assert refused.value.code == code
    assert len(fake.sent) == 4
    assert fake.escrow(REF).status == "funded"
    assert soroban.store.abandoned() == []


# --- the fake is strict: envelopes it must refuse ---------------------------------------------


def test_the_fake_refuses_a_foreign_signature_and_a_wrong_sequence(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    envelope = _envelope(fake, fake.sent[0])
    envelope.transaction.sequence += 1  # the account's next: only the signer is wrong
    envelope.signatures = []
    envelope.sign(Keypair.random())
    assert soroban.rpc.send_transaction(envelope).status.value == "ERROR"
    envelope.transaction.sequence += 1  # properly signed, but skips a sequence number
    envelope.signatures = []
    envelope.sign(OPERATOR)
    assert soroban.rpc.send_transaction(envelope).status.value == "ERROR"
    assert [reason.split(" ")[0] for _, reason in fake.rejected] == ["not", "sequence"]
    assert len(fake.writes()) == 1


# --- faults: one operation, whatever happens on the wire --------------------------------------


@pytest.mark.parametrize("mode", ["transport", "error", "try_again_later"])
def test_a_failed_send_then_a_retry_applies_one_transaction(
    soroban: SorobanBackend, fake: FakeStellarRpc, mode: str
) -> None:
    fake.fail_sends(1, mode)
    with pytest.raises(Unavailable):
        soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    receipt = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert receipt.escrow.status == "funding"
    assert len(fake.envelopes) == 1
    assert fake.sent == [receipt.tx_hash] * 2
    assert len(fake.writes()) == 1


def test_an_applied_transaction_whose_answer_was_lost_is_not_sent_again(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    fake.fail_sends(1, "lost_reply")
    with pytest.raises(Unavailable):
        soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert len(fake.writes()) == 1  # applied, but the service does not know
    receipt = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert receipt.tx_hash == fake.sent[0]
    assert len(fake.sent) == 1
    assert len(fake.writes()) == 1


def test_pending_too_long_is_unavailable_then_the_retry_finds_it(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    fake.pending_polls = POLLS + 2
    with pytest.raises(Unavailable, match="pending"):
        soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert fake.writes() == []
    receipt = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert receipt.escrow.amount == 1000
    # The retry asked first and resent only the stored envelope (core answers DUPLICATE).
    assert len(fake.envelopes) == 1
    assert len(fake.writes()) == 1


def test_not_found_for_a_while_then_found_never_builds_a_second_transaction(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    fake.hidden_polls = POLLS + 1  # applied at once, but the RPC lags behind
    with pytest.raises(Unavailable):
        soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    receipt = soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert len(fake.envelopes) == 1
    assert len(fake.writes()) == 1
    assert receipt.tx_hash in fake.envelopes


def test_a_contract_error_when_applied_is_recorded_and_replayed(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    fake.fail_next_apply(4)  # OverFunded: someone funded between simulation and ledger
    for _ in range(2):
        with pytest.raises(ContractError) as refused:
            soroban.fund(key="f1", contract_id=REF, amount=1000)
        assert refused.value.code == "over_funded"
    assert len(fake.sent) == 2
    assert fake.escrow(REF).funded == 0


def test_a_failure_without_a_contract_error_may_be_retried_with_a_new_transaction(
    soroban: SorobanBackend, fake: FakeStellarRpc
) -> None:
    soroban.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    fake.fail_next_apply(0)  # e.g. out of resources: failed, nothing changed, sequence used
    with pytest.raises(Unavailable, match="failed on chain"):
        soroban.fund(key="f1", contract_id=REF, amount=1000)
    receipt = soroban.fund(key="f1", contract_id=REF, amount=1000)
    assert receipt.escrow.funded == 1000
    assert len(fake.envelopes) == 3
    assert [key for key, _, _ in soroban.store.abandoned()] == ["f1"]


def test_an_unreachable_rpc_is_unavailable_and_nothing_is_stored(
    soroban: SorobanBackend, fake: FakeStellarRpc, config: Config
) -> None:
    fake.down = True
    with pytest.raises(Unavailable, match="getHealth"):
        soroban.health()
    with pytest.raises(Unavailable):
        soroban.get(REF)
    http = TestClient(create_app(config, soroban), headers={"X-API-Key": API_KEY})
    assert _post(http, "create", "k1", contract_id=REF, amount=1000).status_code == 503
    assert http.get("/api/health").status_code == 503
    assert soroban.store.get("k1") is None
    fake.down = False
    assert _post(http, "create", "k1", contract_id=REF, amount=1000).status_code == 200


# --- restarts and expiry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "sends"),
    [("transport", 2), ("lost_reply", 1)],  # died before the send landed / after it was applied
)
def test_a_restarted_backend_finishes_the_stored_envelope_and_builds_none(
    config: Config, fake: FakeStellarRpc, fault: str, sends: int
) -> None:
    first = make_backend(config, fake)
    fake.fail_sends(1, fault)
    with pytest.raises(Unavailable):
        first.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    stored = first.store.get("c1")
    assert stored is not None
    assert stored.state == "pending"

    restarted = make_backend(config, fake)  # a new process on the same store
    simulations = len(fake.simulated)
    receipt = restarted.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert receipt.tx_hash == stored.tx_hash
    assert fake.sent == [stored.tx_hash] * sends  # resent only if the network had not seen it
    assert len(fake.simulated) == simulations + 1  # only the read after confirmation
    assert len(fake.writes()) == 1


def test_another_key_waits_for_the_pending_envelope_first(
    config: Config, fake: FakeStellarRpc
) -> None:
    backend = make_backend(config, fake)
    fake.fail_sends(1, "transport")
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    # A new write must not take the sequence number the stored envelope holds: it is settled
    # (resent and applied) before the new one is built.
    backend.create(key="c2", contract_id=OTHER, funder=FUNDER, amount=5)
    assert [a.args["reference"] for a in fake.writes()] == [REF, OTHER]
    assert fake.rejected == []
    assert (
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000).tx_hash
        == (fake.sent[0])
    )


def test_no_new_transaction_while_another_is_still_queued(
    config: Config, fake: FakeStellarRpc
) -> None:
    backend = make_backend(config, fake)
    fake.pending_polls = 3 * POLLS  # c1 sits in the queue for a while
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    fake.pending_polls = 0
    with pytest.raises(Unavailable):  # c1 is still queued: c2 is not even built
        backend.create(key="c2", contract_id=OTHER, funder=FUNDER, amount=5)
    assert len(fake.envelopes) == 1
    receipt = backend.create(key="c2", contract_id=OTHER, funder=FUNDER, amount=5)
    assert [a.args["reference"] for a in fake.writes()] == [REF, OTHER]
    assert receipt.tx_hash == fake.sent[-1]
    assert fake.rejected == []


def test_an_envelope_is_rebuilt_only_once_its_time_bounds_have_passed(
    config: Config, fake: FakeStellarRpc
) -> None:
    backend = make_backend(config, fake)
    fake.fail_sends(2, "transport")
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    with pytest.raises(Unavailable):  # still valid: the same envelope again
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert len(fake.envelopes) == 1
    fake.advance(backend.tx_timeout + 10)  # the ledger closes past its upper time bound
    receipt = backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert len(fake.envelopes) == 2
    assert receipt.tx_hash == fake.sent[-1]
    assert len(fake.writes()) == 1
    assert backend.store.abandoned() == [("c1", fake.sent[0], "expired unseen")]


def test_concurrent_writes_from_two_workers_take_turns_on_the_sequence_number(
    config: Config, fake: FakeStellarRpc
) -> None:
    workers = [make_backend(config, fake), make_backend(config, fake)]  # one store, two processes
    references = [f"ESCROW_{n}AAAAAAA" for n in range(8)]
    barrier = threading.Barrier(len(references))

    def create(index: int) -> str:
        barrier.wait()
        backend = workers[index % 2]
        reference = references[index]
        return backend.create(key=reference, contract_id=reference, funder=FUNDER, amount=9).tx_hash

    with ThreadPoolExecutor(len(references)) as pool:
        hashes = list(pool.map(create, range(len(references))))
    assert fake.rejected == []
    assert sorted(a.args["reference"] for a in fake.writes()) == references
    assert sorted(hashes) == sorted(fake.envelopes)


def test_an_expired_envelope_beyond_the_rpcs_history_is_never_rebuilt(
    config: Config, fake: FakeStellarRpc
) -> None:
    backend = make_backend(config, fake)
    fake.fail_sends(1, "lost_reply")  # applied, answer lost
    with pytest.raises(Unavailable):
        backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    fake.advance(backend.tx_timeout + 10)
    fake.forget_history()  # the RPC no longer knows the transaction landed
    for _ in range(2):
        with pytest.raises(Unavailable, match="by hand"):
            backend.create(key="c1", contract_id=REF, funder=FUNDER, amount=1000)
    assert len(fake.envelopes) == 1
    assert len(fake.writes()) == 1
    assert backend.store.abandoned() == []


# --- through the HTTP service -----------------------------------------------------------------


@pytest.fixture
def http(config: Config, soroban: SorobanBackend) -> TestClient:
    return TestClient(create_app(config, soroban), headers={"X-API-Key": API_KEY})


def _post(http: TestClient, operation: str, key: str, **body: object):
    return http.post(f"/api/escrow/{operation}", json=body, headers={"Idempotency-Key": key})


def test_the_service_runs_an_escrow_through_the_soroban_backend(
    http: TestClient, fake: FakeStellarRpc
) -> None:
    assert _post(http, "create", "k1", contract_id=REF, amount=1000).status_code == 200
    assert _post(http, "fund", "k2", contract_id=REF, amount=1000).status_code == 200
    assert _post(http, "assign", "k3", contract_id=REF, payee=WORKER_MUXED).status_code == 200
    released = _post(http, "release", "k4", contract_id=REF)
    assert released.status_code == 200, released.text
    assert released.json()["tx_hash"] == fake.sent[-1]
    shown = http.get(f"/api/escrow/{REF}").json()
    assert (shown["status"], shown["released"], shown["payee_id"]) == ("released", 1000, 42)
    again = _post(http, "release", "k5", contract_id=REF)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "closed"
    bad = _post(http, "create", "k6", contract_id=OTHER, amount=-5)
    assert bad.status_code == 422
    assert [a.function for a in fake.writes()] == ["create", "fund", "assign", "release"]
    assert http.get("/api/health").json()["network_ok"] is True


def test_the_service_answers_503_while_pending_and_then_the_result(
    http: TestClient, fake: FakeStellarRpc
) -> None:
    fake.pending_polls = POLLS + 1
    first = _post(http, "create", "k1", contract_id=REF, amount=1000)
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "unavailable"
    second = _post(http, "create", "k1", contract_id=REF, amount=1000)
    assert second.status_code == 200
    assert second.json()["tx_hash"] == fake.sent[0]
    assert len(fake.envelopes) == 1
    assert len(fake.writes()) == 1


def test_the_service_maps_a_contract_error_and_applies_nothing(
    http: TestClient, fake: FakeStellarRpc
) -> None:
    assert _post(http, "create", "k1", contract_id=REF, amount=1000).status_code == 200
    over = _post(http, "fund", "k2", contract_id=REF, amount=5000)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "over_funded"
    missing = _post(http, "release", "k3", contract_id=OTHER)
    assert missing.status_code == 404
    assert [a.function for a in fake.writes()] == ["create"]
    assert fake.escrow(REF).funded == 0


def test_the_service_built_from_its_config_reaches_the_rpc_over_http(
    tmp_path: Path, fake: FakeStellarRpc
) -> None:
    with fake.serve() as url:
        config = soroban_config(tmp_path, rpc_url=url)
        http = TestClient(create_app(config), headers={"X-API-Key": API_KEY})  # build_backend
        created = _post(http, "create", "k1", contract_id=REF, amount=1000)
        assert created.status_code == 200, created.text
        assert http.get(f"/api/escrow/{REF}").json()["amount"] == 1000
    assert [a.function for a in fake.writes()] == ["create"]
    assert (tmp_path / "stellar-service-tx.sqlite3").is_file()  # the envelope store


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_never_reach_logs_answers_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = make_fake(tmp_path, arbiter=ARBITER.public_key)
    config = soroban_config(tmp_path, arbiter_secret=ARBITER.secret)
    backend = make_backend(config, fake)
    http = TestClient(create_app(config, backend), headers={"X-API-Key": API_KEY})
    texts = [repr(config), repr(backend.__dict__)]
    fake.fail_sends(1, "error")
    texts.append(_post(http, "create", "k1", contract_id=REF, amount=1000).text)
    texts.append(_post(http, "create", "k1", contract_id=REF, amount=1000).text)
    texts.append(_post(http, "fund", "k2", contract_id=REF, amount=9999).text)
    texts.append(http.get("/api/health").text)
    for bad in (OPERATOR.secret[:-1] + "A", "S" + "x" * 55):
        with pytest.raises(ConfigError) as invalid:
            make_backend(soroban_config(tmp_path, operator_secret=bad), fake)
        texts.append(str(invalid.value))
        assert bad not in str(invalid.value)
    texts.extend(record.getMessage() for record in caplog.records)
    assert any("sendTransaction" in text for text in texts)  # the failure was logged
    for text in texts:
        assert OPERATOR.secret not in text
        assert ARBITER.secret not in text


def _contract_sc_address() -> bytes:
    return Address(CONTRACT).to_xdr_sc_address().to_xdr()


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
