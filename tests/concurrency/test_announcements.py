"""Announcements (kazi/events.py) on PostgreSQL's real row locks: however many workers take the
same announcement at once (a redelivered message, the sweep beside the first dispatch), its
handlers run once, so the money it announces goes to phones once."""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest

from escrow import workflows
from escrow.services import ledger_sync
from kazi.celery import app as celery_app
from kazi.events import announcement_handle
from kazi.models import Announcement
from kazi.tasks import announcement_relay, announcement_sweep
from mpesa.deposits import ReceivedPayment, deposit_record
from payouts.models import MobileMoneyPayout
from tests.concurrency.test_money_back_races import THREADS, in_progress_job, together
from tests.conftest import assert_books_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@contextmanager
def unread_broker() -> Iterator[None]:
    """Dispatches go to an in-memory broker nobody reads: the announcements wait for us."""
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = "memory://localhost/"
    yield
    celery_app.conf.task_always_eager = True


def waiting(topic: str) -> Announcement:
    return Announcement.objects.get(topic=topic, handled_at__isnull=True)


def test_ten_workers_on_one_release_announcement_pay_the_worker_once(daraja, settings):
    _, worker, job = in_progress_job()
    with unread_broker():
        workflows.job_complete(job_id=job.pk)
        ledger_sync(escrow_id=job.escrow.pk)  # the chain confirms: money left the escrow
    announcement = waiting("escrow.money_left")
    assert not MobileMoneyPayout.objects.exists()
    settings.OUTBOUND_STUCK_AFTER = settings.OUTBOUND_STUCK_AFTER * 0
    handled = together(
        *([lambda: announcement_handle(announcement.pk)] * (THREADS - 1)), announcement_sweep
    )
    assert not [r for r in handled if isinstance(r, Exception)], handled
    assert sum(handled) == 1  # one worker (or the sweep, which counts what it handled) ran it
    [payout] = MobileMoneyPayout.objects.all()
    assert (payout.kind, payout.paid_to, payout.amount) == ("release", worker, Decimal("1500.00"))
    assert Announcement.objects.get(pk=announcement.pk).handled_at is not None
    assert_books_balance()


def test_ten_workers_on_one_surplus_announcement_pay_it_back_once(daraja):
    _, _, job = in_progress_job()
    # Paid again by mistake: all of it is surplus, owed back to the employer.
    again = ReceivedPayment("RKS0000001", Decimal("700"), job.escrow.contract_id, "", "", "")
    with unread_broker():
        deposit_record(payment=again, callback=None)
    announcement = waiting("mpesa.surplus_received")
    handled = together(*[lambda: announcement_handle(announcement.pk)] * THREADS)
    assert handled.count(True) == 1
    [payout] = MobileMoneyPayout.objects.filter(kind="surplus")
    assert (payout.amount, payout.recipient) == (Decimal("700.00"), "employer")
    assert_books_balance()


def test_relay_ticks_at_once_pay_each_worker_once(daraja, settings):
    """Beat's relay ticks overlapping (a slow worker, a tick redelivered): each announcement is
    handled by one of them, so each release is paid out once."""
    jobs = [in_progress_job() for _ in range(3)]
    settings.ANNOUNCEMENT_RELAY_SECONDS = 1  # no dispatch after commit: the relay's work
    for _, _, job in jobs:
        workflows.job_complete(job_id=job.pk)
        ledger_sync(escrow_id=job.escrow.pk)
    announced = Announcement.objects.filter(handled_at__isnull=True).count()
    assert announced == 3
    assert not MobileMoneyPayout.objects.exists()
    handled = together(*[announcement_relay] * THREADS)
    assert not [r for r in handled if isinstance(r, Exception)], handled
    assert sum(handled) == announced
    paid = MobileMoneyPayout.objects.values_list("paid_to", "kind", "amount")
    assert sorted(paid) == sorted(
        (worker.pk, "release", Decimal("1500.00")) for _, worker, _ in jobs
    )
    assert_books_balance()
