"""The local backend keeps the contract's rules (README: checks in order, fee rounded down, muxed
payees), token balances like a chain's, and applies each key once (it replaces the Django-side
escrow/ledger/local.py, whose promises are kept here)."""

import hashlib
import json

import pytest
from stellar_sdk import MuxedAccount

from stellar_service.backends.base import ContractError, IdempotencyConflict, Unavailable
from stellar_service.backends.local import LOCAL_FLOAT, LocalBackend
from stellar_service.config import LOCAL_CONTRACT_ADDRESS, LOCAL_FUNDER_ACCOUNT, local_account
from tests.stellar_service.conftest import REF, WORKER, WORKER_MUXED, world

WORKER2 = local_account("test worker 2")


@pytest.fixture
def book(tmp_path) -> LocalBackend:
    return LocalBackend(tmp_path / "ledger.sqlite3", fee_bps=250)


def funded(book: LocalBackend, amount: int = 1_000, payee: str | None = WORKER) -> LocalBackend:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=amount)
    book.fund(key="f1", contract_id=REF, amount=amount // 2)
    book.fund(key="f2", contract_id=REF, amount=amount - amount // 2)
    if payee:
        book.assign(key="a", contract_id=REF, payee=payee)
    return book


def refused(code: str, call, *args, **kwargs) -> None:
    with pytest.raises(ContractError) as err:
        call(*args, **kwargs)
    assert err.value.code == code


def test_partial_fundings_add_up_and_release_pays_net_of_the_fee(book: LocalBackend) -> None:
    funded(book, amount=1_999)
    assert (book.get(REF).status, book.get(REF).funded) == ("funded", 1_999)
    receipt = book.release(key="r", contract_id=REF)
    # 1,999 x 2.5 % = 49.975: rounded down to 49, the payee gets 1,950.
    assert (receipt.escrow.status, receipt.escrow.fee, receipt.escrow.released) == (
        "released",
        49,
        1_950,
    )
    assert receipt.escrow == book.get(REF)
    assert book.balance(WORKER) == 1_950
    assert book.balance(book.fee_account) == 49
    assert book.balance(LOCAL_CONTRACT_ADDRESS) == 0
    assert book.balance(LOCAL_FUNDER_ACCOUNT) == LOCAL_FLOAT - 1_999


def test_a_muxed_payee_is_paid_at_its_account_and_keeps_its_id(book: LocalBackend) -> None:
    funded(book, payee=WORKER_MUXED)
    assert (book.get(REF).payee, book.get(REF).payee_id) == (WORKER, 42)
    book.release(key="r", contract_id=REF)
    assert book.balance(WORKER) == 975
    assert book.balance(WORKER_MUXED) == 0


def test_u64_mux_ids_and_i128_amounts_survive_storage(book: LocalBackend) -> None:
    big = 2**127 - 1
    book.create(key="c", contract_id=REF, funder=book.funder, amount=big)
    book.assign(key="a", contract_id=REF, payee=MuxedAccount(WORKER, 2**64 - 1).account_muxed)
    escrow = book.get(REF)
    assert (escrow.amount, escrow.payee_id) == (big, 2**64 - 1)


def test_the_payee_may_change_until_release(book: LocalBackend) -> None:
    funded(book)
    book.assign(key="a2", contract_id=REF, payee=WORKER2)
    assert (book.get(REF).payee, book.get(REF).payee_id) == (WORKER2, None)
    book.release(key="r", contract_id=REF)
    assert (book.balance(WORKER), book.balance(WORKER2)) == (0, 975)
    refused("closed", book.assign, key="a3", contract_id=REF, payee=WORKER)


@pytest.mark.parametrize(
    ("code", "call"),
    [
        # NotFound is checked before InvalidAmount; InvalidAmount before AlreadyExists.
        ("not_found", lambda b: b.fund(key="x", contract_id="ESCROW_NONE0000", amount=0)),
        ("invalid_amount", lambda b: b.create(key="x", contract_id=REF, funder=b.funder, amount=0)),
        ("already_exists", lambda b: b.create(key="x", contract_id=REF, funder=b.funder, amount=5)),
        # The contract funding an escrow would spend tokens that other escrows hold.
        (
            "invalid_amount",
            lambda b: b.create(key="x", contract_id="ESCROW_0THER000", funder=b.contract, amount=5),
        ),
        ("invalid_amount", lambda b: b.fund(key="x", contract_id=REF, amount=-1)),
        ("not_funding", lambda b: b.fund(key="x", contract_id=REF, amount=1)),
        ("not_disputed", lambda b: b.resolve(key="x", contract_id=REF, to_payee=1000, to_funder=0)),
        ("not_found", lambda b: b.get("ESCROW_NONE0000")),
    ],
)
def test_contract_errors_in_order_change_nothing(book: LocalBackend, code: str, call) -> None:
    funded(book)
    before = world(book)
    with pytest.raises(ContractError) as err:
        call(book)
    assert err.value.code == code
    assert err.value.number is not None
    assert world(book) == before


def test_funding_never_passes_the_amount(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=1_000)
    book.fund(key="f1", contract_id=REF, amount=999)
    refused("over_funded", book.fund, key="f2", contract_id=REF, amount=2)
    refused("invalid_amount", book.fund, key="f3", contract_id=REF, amount=0)
    assert book.get(REF).funded == 999
    assert book.balance(LOCAL_CONTRACT_ADDRESS) == 999


def test_release_needs_full_funding_and_a_payee(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=1_000)
    refused("not_funded", book.release, key="r0", contract_id=REF)
    book.fund(key="f", contract_id=REF, amount=1_000)
    refused("no_payee", book.release, key="r1", contract_id=REF)


def test_release_and_refund_happen_at_most_once(book: LocalBackend) -> None:
    funded(book)
    book.release(key="r", contract_id=REF)
    paid = world(book)[1]
    refused("closed", book.release, key="r-again", contract_id=REF)
    refused("closed", book.refund, key="refund", contract_id=REF)
    refused("closed", book.dispute, key="dispute", contract_id=REF)
    assert (book.get(REF).refunded, world(book)[1]) == (0, paid)


def test_refund_returns_what_was_funded(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=1_000)
    book.fund(key="f", contract_id=REF, amount=300)
    book.refund(key="refund", contract_id=REF)
    assert (book.get(REF).status, book.get(REF).refunded) == ("refunded", 300)
    assert book.balance(LOCAL_FUNDER_ACCOUNT) == LOCAL_FLOAT
    refused("closed", book.refund, key="refund-again", contract_id=REF)


def test_a_dispute_freezes_until_resolved(book: LocalBackend) -> None:
    funded(book)
    book.dispute(key="d", contract_id=REF)
    for call in (book.release, book.refund, book.dispute):
        refused("in_dispute", call, key="x", contract_id=REF)
    refused("in_dispute", book.assign, key="x", contract_id=REF, payee=WORKER2)
    refused("invalid_split", book.resolve, key="x", contract_id=REF, to_payee=-1, to_funder=1_001)
    refused("invalid_split", book.resolve, key="x", contract_id=REF, to_payee=500, to_funder=499)
    book.resolve(key="s", contract_id=REF, to_payee=600, to_funder=400)
    escrow = book.get(REF)
    assert (escrow.status, escrow.released, escrow.refunded, escrow.fee) == (
        "resolved",
        600,
        400,
        0,
    )
    assert (book.balance(WORKER), book.balance(LOCAL_CONTRACT_ADDRESS)) == (600, 0)
    refused("not_disputed", book.resolve, key="s2", contract_id=REF, to_payee=600, to_funder=400)


def test_resolving_to_a_missing_payee_is_refused_after_the_split_check(book: LocalBackend) -> None:
    funded(book, payee=None)
    book.dispute(key="d", contract_id=REF)
    refused("invalid_split", book.resolve, key="x", contract_id=REF, to_payee=1, to_funder=0)
    refused("no_payee", book.resolve, key="x", contract_id=REF, to_payee=1, to_funder=999)
    book.resolve(key="s", contract_id=REF, to_payee=0, to_funder=1_000)
    assert book.balance(LOCAL_FUNDER_ACCOUNT) == LOCAL_FLOAT


def test_a_funder_without_tokens_cannot_fund(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=WORKER2, amount=1_000)
    before = world(book)
    refused("token_insufficient_balance", book.fund, key="f", contract_id=REF, amount=10)
    assert world(book) == before


@pytest.mark.parametrize("fee_bps", [-1, 1_001])
def test_the_fee_is_at_most_ten_percent(tmp_path, fee_bps: int) -> None:
    with pytest.raises(ContractError) as err:
        LocalBackend(tmp_path / "ledger.sqlite3", fee_bps=fee_bps)
    assert (err.value.code, err.value.number) == ("invalid_fee", 11)


def test_a_replayed_key_is_applied_once_and_answers_the_same(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=1_000)
    first = book.fund(key="f1", contract_id=REF, amount=400)
    book.fund(key="f2", contract_id=REF, amount=100)
    again = book.fund(key="f1", contract_id=REF, amount=400)
    assert first == again  # the first receipt, escrow as it was then
    assert book.get(REF).funded == 500
    assert book.applied_operations() == ["c", "f1", "f2"]


def test_a_reused_key_with_another_request_is_refused(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=1_000)
    book.fund(key="f1", contract_id=REF, amount=400)
    with pytest.raises(IdempotencyConflict):
        book.fund(key="f1", contract_id=REF, amount=500)
    with pytest.raises(IdempotencyConflict):
        book.refund(key="f1", contract_id=REF)
    assert book.get(REF).funded == 400


def test_hashes_are_deterministic_and_state_survives_a_restart(tmp_path) -> None:
    one = LocalBackend(tmp_path / "a.sqlite3")
    two = LocalBackend(tmp_path / "b.sqlite3")
    receipt = one.create(key="c", contract_id=REF, funder=one.funder, amount=1)
    assert receipt == two.create(key="c", contract_id=REF, funder=two.funder, amount=1)
    request = {"amount": 1, "contract_id": REF, "funder": one.funder, "operation": "create"}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    assert receipt.tx_hash == hashlib.sha256(f"c|{canonical}".encode()).hexdigest()
    one.fund(key="f", contract_id=REF, amount=1)
    restarted = LocalBackend(tmp_path / "a.sqlite3")
    assert restarted.get(REF).status == "funded"
    assert restarted.applied_operations() == ["c", "f"]
    assert restarted.balance(LOCAL_FUNDER_ACCOUNT) == LOCAL_FLOAT - 1  # minted once, not again


def test_fault_fail_before_apply(book: LocalBackend) -> None:
    book.faults.fail_before_apply = 2
    for _ in range(2):
        with pytest.raises(Unavailable):
            book.create(key="c", contract_id=REF, funder=book.funder, amount=5)
    assert book.applied_operations() == []
    book.create(key="c", contract_id=REF, funder=book.funder, amount=5)
    assert book.calls == [("create", "c")] * 3
    assert book.applied_operations() == ["c"]


def test_fault_lose_answer_after_apply(book: LocalBackend) -> None:
    book.create(key="c", contract_id=REF, funder=book.funder, amount=5)
    book.faults.lose_answer_after_apply = 1
    with pytest.raises(Unavailable):
        book.fund(key="f", contract_id=REF, amount=5)
    assert book.get(REF).funded == 5  # applied, answer lost
    receipt = book.fund(key="f", contract_id=REF, amount=5)
    assert (receipt.escrow.funded, book.get(REF).funded) == (5, 5)
    assert book.applied_operations() == ["c", "f"]
    assert book.faults.lose_answer_after_apply == 0


def test_health_counts_escrows(book: LocalBackend) -> None:
    funded(book)
    assert book.health() == {"escrows": 1}
