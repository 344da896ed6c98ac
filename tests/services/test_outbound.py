"""Outbound work to the ledger: nothing leaves before commit (P6), every committed intent is
carried out eventually, and a lost answer is never turned into a second operation (P7)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from escrow import services as escrow_services
from escrow import workflows
from escrow.models import EscrowContract, LedgerOperation
from escrow.tasks import ledger_sweep
from jobs import services as jobs
from kazi import events
from kazi.models import Announcement
from kazi.tasks import announcement_relay, announcement_sweep
from mpesa.deposits import ReceivedPayment, deposit_record
from notifications.models import Notification
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance


def payment(ref: str, amount: str = "1500.00", trans_id: str = "RKTQDM7W6S") -> ReceivedPayment:
    return ReceivedPayment(trans_id, Decimal(amount), ref, "2547 ***** 678", "Wanjiku", "")


def job_in_progress(employer, employee):
    job = workflows.job_create(
        employer=employer, title="Paint", description="Two rooms", budget=Decimal("1500.00")
    )
    deposit_record(payment=payment(job.escrow.contract_id), callback=None)
    jobs.job_apply(job_id=job.pk, employee=employee)
    workflows.job_assign(job_id=job.pk, employee_id=employee.pk)
    return job


def test_a_rolled_back_change_never_reaches_the_ledger(
    db, employer, employee, ledger, django_capture_on_commit_callbacks
):
    def request_that_fails_after_the_services_ran():
        with transaction.atomic():
            job_in_progress(employer, employee)
            raise RuntimeError("the request failed")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        request_that_fails_after_the_services_ran()
    assert callbacks == []
    assert ledger.calls == []
    assert LedgerOperation.objects.count() == 0
    assert EscrowContract.objects.count() == 0


def test_the_sweep_finishes_work_whose_dispatch_was_lost(db, settings, employer, employee, ledger):
    # Plain `db` tests never commit, so nothing dispatched on commit runs: as if the broker
    # had lost every message.
    job = job_in_progress(employer, employee)
    ref = job.escrow.contract_id
    assert ledger.calls == []
    assert set(LedgerOperation.objects.values_list("status", flat=True)) == {"pending"}

    assert ledger_sweep() == 0  # not stuck yet
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    assert ledger_sweep() == 1
    assert ledger.applied_operations() == [
        f"{ref}:create",
        f"{ref}:fund:RKTQDM7W6S",
        f"{ref}:assign",
    ]
    assert ledger.get(ref).funded == 15_000_000_000

    workflows.job_complete(job_id=job.pk)
    ledger_sweep()
    ledger_sweep()  # a second sweep finds nothing left to do
    assert [op for op, _ in ledger.calls].count("release") == 1
    escrow = EscrowContract.objects.get(pk=job.escrow.pk)
    assert escrow.status == "released"
    # Money out's reaction to the release was announced, and lost with the dispatch too (as
    # were the deposit's messages).
    assert not MobileMoneyPayout.objects.filter(escrow_contract=escrow).exists()
    assert announcement_sweep() == 2
    assert announcement_sweep() == 0  # handled once
    assert MobileMoneyPayout.objects.filter(escrow_contract=escrow).count() == 1
    assert_books_balance()


def test_with_workers_the_relay_handles_what_requests_announced(
    db, settings, employer, ledger, django_capture_on_commit_callbacks
):
    """Where a broker and workers exist, a payment sends no broker message from the request:
    beat's relay tick handles the announcements written since the last one, each once."""
    settings.ANNOUNCEMENT_RELAY_SECONDS = 1
    refs = [
        workflows.job_create(
            employer=employer, title="Paint", description="Two rooms", budget=Decimal("1500.00")
        ).escrow.contract_id
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks() as dispatched:
        for n, ref in enumerate(refs):
            deposit_record(payment=payment(ref, "500.00", f"RKTQDM7W6{n}"), callback=None)
    assert dispatched == []
    assert not Notification.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert announcement_relay() == 2
    assert [ledger.get(ref).funded for ref in refs] == [5_000_000_000] * 2
    told = Notification.objects.filter(user=employer).values_list("body", flat=True)
    assert len(told) == 2
    assert all("KES 1,000.00 is still to pay" in message for message in told), list(told)
    assert announcement_relay() == 0


def test_the_relay_leaves_a_failed_handler_to_the_sweep(db, settings, monkeypatch):
    settings.ANNOUNCEMENT_RELAY_SECONDS = 1

    def fails(**payload: object) -> None:
        raise RuntimeError("the SMS gateway is down")

    monkeypatch.setitem(events._handlers, "test.fails", [fails])
    events.announce("test.fails", n=1)
    assert announcement_relay() == 0
    assert announcement_relay() == 0  # not tried again at every tick
    failed = Announcement.objects.get(topic="test.fails")
    assert (failed.attempts, failed.handled_at) == (1, None)
    assert "the SMS gateway is down" in failed.last_error
    monkeypatch.setitem(events._handlers, "test.fails", [])  # the gateway is back
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    assert announcement_sweep() == 1


@pytest.mark.parametrize("fault", ["fail_before_apply", "lose_answer_after_apply"])
def test_a_lost_answer_is_retried_with_the_same_key(api, employer, employee, ledger, fault):
    setattr(ledger.faults, fault, 1)
    from tests.api.helpers import in_progress_job

    job = in_progress_job(api, employer, employee)
    ref = job["escrow_contract_id"]
    create_calls = [key for op, key in ledger.calls if op == "create"]
    assert create_calls == [f"{ref}:create"] * 2  # the retry reused the key
    assert ledger.applied_operations().count(f"{ref}:create") == 1
    assert ledger.get(ref).funded == 15_000_000_000
    transactions = api.get(f"/api/jobs/{job['id']}/").json()["escrow"]["transactions"]
    assert [tx["status"] for tx in transactions] == ["succeeded"] * 3


def test_redelivered_tasks_change_nothing(db, settings, employer, employee, ledger):
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    job = job_in_progress(employer, employee)
    workflows.job_complete(job_id=job.pk)
    escrow_services.ledger_sync(escrow_id=job.escrow.pk)
    calls = list(ledger.calls)
    escrow_services.ledger_sync(escrow_id=job.escrow.pk)
    release = LedgerOperation.objects.get(kind="release")
    escrow_services.ledger_operation_confirm(op_id=release.pk, tx_hash="another")
    announcement_sweep()
    announcement_sweep()
    assert ledger.calls == calls
    assert LedgerOperation.objects.get(kind="release").tx_hash != "another"
    assert MobileMoneyPayout.objects.count() == 1


def test_a_rejected_operation_stops_the_escrows_queue(db, employer, employee, ledger):
    job = workflows.job_create(
        employer=employer, title="Paint", description="Two rooms", budget=Decimal("1500.00")
    )
    ref = job.escrow.contract_id
    ledger.create(reference=ref, amount=1, idempotency_key="someone-else")  # taken on chain
    deposit_record(payment=payment(ref), callback=None)
    escrow_services.ledger_sync(escrow_id=job.escrow.pk)
    ops = dict(LedgerOperation.objects.values_list("kind", "status"))
    assert ops == {"create": "failed", "fund": "pending"}
    assert "already_exists" in LedgerOperation.objects.get(kind="create").last_error
    assert [op for op, _ in ledger.calls] == ["create", "create"]  # ours was refused, fund waits
