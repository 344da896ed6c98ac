"""A failed ledger operation is retried from the admin: a new attempt under a new recorded key,
which unblocks the escrow's queue and is applied once; an operation whose effect the chain shows
already is refused again by the contract, and no money moves twice."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from escrow import services as escrow_services
from escrow.models import EscrowContract, LedgerOperation
from escrow.references import new_reference
from escrow.workflows import job_create
from kazi.errors import Conflict
from mpesa.deposits import ReceivedPayment, deposit_record
from payouts.models import MobileMoneyPayout
from tests.admin.conftest import messages_of, text
from tests.api.helpers import apply_and_assign, pay, post_job

CHANGELIST = "/admin/escrow/ledgeroperation/"


def drain_the_float(ledger) -> str:
    """Someone else's escrow takes every token the funder holds: our next fund is refused
    (token_insufficient_balance), a definite answer the service keeps for its key."""
    other, funder = new_reference(), ledger.backend.funder
    everything = ledger.backend.balance(funder)
    ledger.create(reference=other, amount=everything, idempotency_key="drain:create")
    ledger.fund(reference=other, amount=everything, idempotency_key="drain:fund")
    assert ledger.backend.balance(funder) == 0
    return other


def top_up_the_float(ledger, other: str) -> None:
    ledger.refund(reference=other, idempotency_key="drain:refund")


def test_a_retried_fund_unblocks_the_escrow_and_is_applied_once(
    api, admin_client, superuser, employer, employee, ledger
):
    job = post_job(api, employer)
    ref = job["escrow_contract_id"]
    other = drain_the_float(ledger)
    pay(api, job)
    apply_and_assign(api, employer, employee, job)
    ops = dict(LedgerOperation.objects.values_list("kind", "status"))
    assert ops == {"create": "succeeded", "fund": "failed", "assign": "pending"}  # blocked
    fund = LedgerOperation.objects.get(kind="fund")
    assert fund.last_error.startswith("token_insufficient_balance")
    original_key = fund.idempotency_key
    assert original_key == f"{ref}:fund:RKTQDM7W6S"

    top_up_the_float(ledger, other)
    ledger.faults.lose_answer_after_apply = 1  # the retry is applied, its answer lost
    response = admin_client.as_user(superuser).action(CHANGELIST, "retry_failed", [fund])

    [said] = messages_of(response)  # what followed, if the queue ran before the page came back
    assert said.startswith(f"{original_key} retried as {original_key}:r2; ")
    ops = dict(LedgerOperation.objects.values_list("kind", "status"))
    assert ops == {"create": "succeeded", "fund": "succeeded", "assign": "succeeded"}
    fund.refresh_from_db()
    assert fund.idempotency_key == f"{original_key}:r2"
    assert "token_insufficient_balance" not in fund.last_error  # moved to the history
    assert ledger.get(ref).funded == 15_000_000_000
    applied = ledger.applied_operations()
    assert applied.count(f"{original_key}:r2") == 1
    assert original_key not in applied
    fund_calls = [key for op, key in ledger.calls if op == "fund" and key.startswith(ref)]
    assert fund_calls == [original_key, f"{original_key}:r2", f"{original_key}:r2"]

    # The error is kept in the operation's history, with who retried it.
    entry = LogEntry.objects.get(object_id=str(fund.pk))
    assert entry.user == superuser
    assert original_key in entry.change_message
    assert "token_insufficient_balance" in entry.change_message
    history = admin_client.get(reverse("admin:escrow_ledgeroperation_history", args=[fund.pk]))
    assert "token_insufficient_balance" in text(history)

    # Retrying again is refused: it did not fail; nothing more reaches the ledger.
    calls = list(ledger.calls)
    response = admin_client.action(CHANGELIST, "retry_failed", [fund])
    assert messages_of(response) == [
        f"{original_key}:r2 is succeeded; only a failed ledger operation is retried."
    ]
    assert ledger.calls == calls

    # The escrow moves on: completed, released once, paid once.
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    assert EscrowContract.objects.get(contract_id=ref).status == "released"
    assert MobileMoneyPayout.objects.filter(kind="release").count() == 1
    assert [op for op, key in ledger.calls if key.startswith(ref)].count("release") == 1


def test_a_retry_of_what_the_chain_did_already_moves_no_money_twice(
    api, admin_client, superuser, employer, ledger
):
    job = post_job(api, employer)
    ref = job["escrow_contract_id"]
    pay(api, job)
    funder = ledger.backend.funder
    before_refund = ledger.backend.balance(funder)
    # The refund was applied after all (here: by hand, under another key) ...
    ledger.refund(reference=ref, idempotency_key="operator:refund")
    assert ledger.backend.balance(funder) == before_refund + 15_000_000_000
    # ... so ours is refused: the escrow is closed.
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/cancel/").status_code == 200
    refund = LedgerOperation.objects.get(kind="refund")
    assert refund.status == "failed"
    assert refund.last_error.startswith("closed")

    # From the escrow's page: its inline links to the retry, which asks first.
    admin_client.as_user(superuser)
    escrow_page = reverse("admin:escrow_escrowcontract_change", args=[refund.escrow_id])
    page = admin_client.get(escrow_page)
    retry_url = reverse("admin:escrow_ledgeroperation_retry", args=[refund.pk])
    assert f'href="{retry_url}?next=' in page.content.decode()
    confirm = admin_client.get(retry_url, {"next": escrow_page})
    assert confirm.status_code == 200
    assert "closed" in text(confirm)
    assert LedgerOperation.objects.get(pk=refund.pk).idempotency_key == f"{ref}:refund"

    response = admin_client.post(f"{retry_url}?next={escrow_page}", follow=True)
    assert response.redirect_chain[-1][0] == escrow_page
    [said] = messages_of(response)
    assert said.startswith(f"{ref}:refund retried as {ref}:refund:r2; ")
    page = admin_client.get(escrow_page)  # failed again, with the contract's answer
    assert f"Refund {ref}:refund:r2 - Failed - 2 closed: {ref} is refunded" in text(page)
    assert f'href="{retry_url}?next=' in page.content.decode()
    refund.refresh_from_db()
    assert (refund.status, refund.idempotency_key) == ("failed", f"{ref}:refund:r2")
    # The contract refused it: the money came back to the funder once.
    assert ledger.backend.balance(funder) == before_refund + 15_000_000_000
    assert f"{ref}:refund:r2" not in ledger.applied_operations()
    assert ledger.get(ref).refunded == 15_000_000_000
    assert MobileMoneyPayout.objects.count() == 0  # a refund is paid once the ledger confirms

    # A third attempt gets the next key.
    escrow_services.ledger_operation_retry(op_id=refund.pk, by=superuser)
    assert LedgerOperation.objects.get(pk=refund.pk).idempotency_key == f"{ref}:refund:r3"


def test_only_failed_operations_are_retried(db, superuser, employer):
    job = post_job_by_service(employer)
    op = LedgerOperation.objects.get(kind="create")  # pending: nothing dispatched in a db test
    with pytest.raises(Conflict, match="only a failed ledger operation is retried"):
        escrow_services.ledger_operation_retry(op_id=op.pk, by=superuser)
    assert LedgerOperation.objects.get(pk=op.pk).idempotency_key == f"{job.escrow}:create"
    assert not LogEntry.objects.exists()


def post_job_by_service(employer):
    job = job_create(employer=employer, title="Paint", description="Walls", budget=Decimal(1500))
    payment = ReceivedPayment("RKTQDM7W6S", Decimal(1500), job.escrow.contract_id, "", "", "")
    deposit_record(payment=payment, callback=None)
    return job


def test_staff_who_may_only_look_cannot_retry(api, admin_client, clerk, employer, ledger):
    job = post_job(api, employer)
    ledger.create(reference=job["escrow_contract_id"], amount=1, idempotency_key="someone-else")
    pay(api, job)
    failed = LedgerOperation.objects.get(status="failed")
    admin_client.as_user(clerk)
    page = admin_client.get(reverse("admin:escrow_escrowcontract_change", args=[failed.escrow_id]))
    assert page.status_code == 200
    assert "/retry/" not in page.content.decode()
    listing = admin_client.get(CHANGELIST)
    assert "retry_failed" not in listing.content.decode()
    retry_url = reverse("admin:escrow_ledgeroperation_retry", args=[failed.pk])
    assert admin_client.get(retry_url).status_code == 403
    assert admin_client.post(retry_url).status_code == 403
    failed.refresh_from_db()
    assert (failed.status, failed.idempotency_key) == ("failed", f"{failed.escrow}:create")
