"""/e/<reference>/: the public proof of one escrow, for anyone, with no login: its state and
amounts and every ledger transaction with its hash; no names, no phone numbers. The reference is
read as M-Pesa's account number is: forgiving of case, spaces and the prefix, never of a wrong
check character."""

import pytest

from escrow.models import LedgerOperation
from escrow.references import ALPHABET
from mpesa.models import MpesaDeposit
from payouts.models import MobileMoneyPayout
from tests.web.helpers import html, page_ids, text


@pytest.fixture
def released(story, employer, worker):
    return story.completed(employer, worker)


def forms_of(reference: str) -> list[str]:
    code = reference.removeprefix("ESCROW_")
    return [
        reference,
        reference.lower(),
        code,
        code.lower(),
        f"escrow {code[:4]} {code[4:]}",
        f"ESCROW-{code}",
    ]


def test_anyone_sees_the_proof_by_any_form_of_the_reference(web, released):
    reference = released.escrow.contract_id
    for typed in forms_of(reference):
        page = web.get(f"/e/{typed}/")
        assert page.status_code == 200, typed
        assert reference in text(page)
        assert "Released to the worker" in text(page)
        assert "KES 1,500.00" in text(page)


def test_every_ledger_transaction_is_shown_with_its_hash(web, released):
    page = web.get(f"/e/{released.escrow.contract_id}/")
    operations = LedgerOperation.objects.filter(escrow=released.escrow)
    assert {op.kind for op in operations} == {"create", "fund", "assign", "release"}
    for op in operations:
        assert op.tx_hash
        assert op.tx_hash in text(page)
    assert "tx-link" not in page_ids(page)  # the embedded default's ledger: no explorer
    assert "no public explorer" in text(page)


def test_a_real_network_links_each_transaction_to_an_explorer(web, released, settings):
    settings.STELLAR_EXPLORER_TX_URL = "https://stellar.expert/explorer/testnet/tx/{tx_hash}"
    page = web.get(f"/e/{released.escrow.contract_id}/")
    op = LedgerOperation.objects.filter(escrow=released.escrow, kind="release").get()
    assert f'href="https://stellar.expert/explorer/testnet/tx/{op.tx_hash}"' in html(page)


def test_the_proof_shows_no_names_phone_numbers_or_receipts(web, released, employer, worker):
    MpesaDeposit.objects.update(payer_name="PAYERNAME")
    page = web.get(f"/e/{released.escrow.contract_id}/")
    body = html(page)
    for person in (employer, worker):
        assert person.first_name not in body
        assert person.last_name not in body
        assert person.phone_number not in body
        assert person.phone_number[4:] not in body
    assert "PAYERNAME" not in body
    assert MobileMoneyPayout.objects.get().transaction_reference not in body
    assert MpesaDeposit.objects.get().receipt_number not in body
    assert released.title not in body


def test_a_wrong_check_character_is_a_friendly_no_such_escrow(web, released):
    reference = released.escrow.contract_id
    wrong = next(c for c in ALPHABET if c != reference[-1])
    page = web.get(f"/e/{reference[:-1]}{wrong}/")
    assert page.status_code == 404
    assert "No such escrow" in text(page)
    assert "one wrong character is caught" in text(page)
    assert "Released" not in text(page)


@pytest.mark.parametrize("typed", ["ESCROW_00000000", "hello", "ESCROW_", "x" * 60])
def test_an_unknown_reference_is_no_such_escrow(web, db, typed):
    page = web.get(f"/e/{typed}/")
    assert page.status_code == 404
    assert "No such escrow" in text(page)


def test_the_look_up_form_goes_to_the_proof(web, released):
    reference = released.escrow.contract_id
    response = web.get("/e/", {"reference": reference.lower().replace("_", " ")})
    assert response.status_code == 302
    assert response["Location"] == f"/e/{reference}/"
    assert web.get("/e/", {"reference": "nonsense"}).status_code == 404


def test_a_new_escrow_says_nothing_is_on_the_ledger_yet(web, story, employer):
    job = story.posted(employer)
    page = web.get(f"/e/{job.escrow.contract_id}/")
    assert page.status_code == 200
    assert "no-transactions" in page_ids(page)
    assert "Waiting for payment" in text(page)
