"""The embedded default ledger (the stellar service's local backend, in-process) keeps the
contract's rules and answers through the ledger port as the service does over HTTP."""

import pytest

from escrow.ledger import LedgerRejected
from sandbox.ledger import InProcessLedger

REF = "ESCROW_7KQ2M9XD"
PAYEE = "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS"


@pytest.fixture
def book(tmp_path):
    return InProcessLedger(tmp_path / "ledger.sqlite3")


def funded(book, payee=PAYEE):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    book.fund(reference=REF, amount=400, idempotency_key="f1")
    book.fund(reference=REF, amount=600, idempotency_key="f2")
    book.assign(reference=REF, payee=payee, idempotency_key="a")
    return book


def test_partial_fundings_add_up_and_release_pays_the_payee(book):
    funded(book)
    assert book.get(REF).status == "funded"
    assert book.get(REF).funded == 1000
    book.release(reference=REF, idempotency_key="r")
    state = book.get(REF)
    assert (state.status, state.released, state.payee) == ("released", 1000, PAYEE)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        (lambda b: b.fund(reference=REF, amount=1, idempotency_key="f3"), "not_funding"),
        (lambda b: b.create(reference=REF, amount=5, idempotency_key="c2"), "already_exists"),
        (lambda b: b.fund(reference="ESCROW_0000000Z", amount=5, idempotency_key="x"), "not_found"),
        (
            lambda b: b.fund(reference="ESCROW_NONE", amount=5, idempotency_key="y"),
            "invalid_contract_id",
        ),
        (lambda b: b.assign(reference=REF, payee="GPAYEE", idempotency_key="a2"), "invalid_payee"),
    ],
)
def test_contract_errors(book, operation, code):
    funded(book)
    with pytest.raises(LedgerRejected) as err:
        operation(book)
    assert err.value.code == code


def test_funding_never_passes_the_amount(book):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    book.fund(reference=REF, amount=999, idempotency_key="f1")
    with pytest.raises(LedgerRejected, match="over_funded"):
        book.fund(reference=REF, amount=2, idempotency_key="f2")
    with pytest.raises(LedgerRejected, match="invalid_amount"):
        book.fund(reference=REF, amount=0, idempotency_key="f3")
    assert book.get(REF).funded == 999


def test_release_needs_full_funding_and_a_payee(book):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    with pytest.raises(LedgerRejected, match="not_funded"):
        book.release(reference=REF, idempotency_key="r0")
    book.fund(reference=REF, amount=1000, idempotency_key="f")
    with pytest.raises(LedgerRejected, match="no_payee"):
        book.release(reference=REF, idempotency_key="r1")


def test_release_and_refund_happen_at_most_once(book):
    funded(book)
    book.release(reference=REF, idempotency_key="r")
    with pytest.raises(LedgerRejected, match="closed"):
        book.release(reference=REF, idempotency_key="r-again")
    with pytest.raises(LedgerRejected, match="closed"):
        book.refund(reference=REF, idempotency_key="refund")
    assert book.get(REF).refunded == 0


def test_refund_returns_what_was_funded(book):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    book.fund(reference=REF, amount=300, idempotency_key="f")
    book.refund(reference=REF, idempotency_key="refund")
    assert (book.get(REF).status, book.get(REF).refunded) == ("refunded", 300)


def test_a_replayed_key_is_applied_once_and_answers_the_same(book):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    first = book.fund(reference=REF, amount=400, idempotency_key="f1")
    again = book.fund(reference=REF, amount=400, idempotency_key="f1")
    assert first == again
    assert book.get(REF).funded == 400
    assert book.applied_operations() == ["c", "f1"]


def test_a_reused_key_with_another_body_is_refused(book):
    book.create(reference=REF, amount=1000, idempotency_key="c")
    book.fund(reference=REF, amount=400, idempotency_key="f1")
    with pytest.raises(LedgerRejected, match="idempotency_conflict"):
        book.fund(reference=REF, amount=500, idempotency_key="f1")
    assert book.get(REF).funded == 400


def test_hashes_are_deterministic_and_state_survives_a_restart(tmp_path):
    one = InProcessLedger(tmp_path / "a.sqlite3")
    two = InProcessLedger(tmp_path / "b.sqlite3")
    assert one.create(reference=REF, amount=1, idempotency_key="c") == two.create(
        reference=REF, amount=1, idempotency_key="c"
    )
    one.fund(reference=REF, amount=1, idempotency_key="f")
    restarted = InProcessLedger(tmp_path / "a.sqlite3")
    assert restarted.get(REF).status == "funded"
    assert restarted.applied_operations() == ["c", "f"]
