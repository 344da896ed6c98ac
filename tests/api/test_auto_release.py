"""Auto-release (DESIGN §9, MONEY-SAFETY P15): once the worker has delivered, the employer has
AUTO_RELEASE_AFTER to complete or dispute; then escrow.tasks.auto_release_sweep releases the escrow
exactly as a completion would. The employer is reminded once in the last day; a disputed or
completed job is never touched."""

import time
from datetime import timedelta

from escrow.models import LedgerOperation
from notifications.models import Notification
from tests.api.escrow_life import (
    b2c_to,
    complete,
    deliver,
    delivered_job,
    detail,
    dispute,
    in_progress_job,
    move_deadline,
    phone,
    row_counts,
    run_sweep,
)
from tests.factories import EmployeeFactory, EmployerFactory

REMINDER = "auto_release_soon"


def outcome(api, employer, job: dict) -> dict:
    """What a release leaves behind, without what differs between any two jobs."""
    done = detail(api, employer, job)
    return {
        "status": (done["status"], done["escrow"]["status"]),
        "amounts": (done["escrow"]["released_amount"], done["escrow"]["held_amount"]),
        "payouts": [(p["kind"], p["recipient"], p["amount"], p["status"]) for p in done["payouts"]],
        "operations": [(t["operation"], t["status"]) for t in done["escrow"]["transactions"]],
        "told_the_worker": sorted(
            Notification.objects.filter(user_id=done["employee"]["id"]).values_list(
                "event", flat=True
            )
        ),
    }


def test_the_sweep_releases_as_a_completion_would(
    api, settings, daraja, django_capture_on_commit_callbacks
):
    settings.AUTO_RELEASE_AFTER = timedelta(0)  # the window closes as the work is delivered
    boss_a, boss_b = EmployerFactory(), EmployerFactory()
    worker_a, worker_b = EmployeeFactory(), EmployeeFactory()
    by_hand = delivered_job(api, boss_a, worker_a)
    by_clock = delivered_job(api, boss_b, worker_b)
    assert complete(api, boss_a, by_hand).status_code == 200

    assert run_sweep(django_capture_on_commit_callbacks) == 1  # by_hand is completed already

    assert outcome(api, boss_b, by_clock) == outcome(api, boss_a, by_hand)
    assert outcome(api, boss_b, by_clock)["status"] == ("completed", "released")
    assert [(to, amount) for _, to, amount in b2c_to(daraja)] == [
        (phone(worker_a), "1500"),
        (phone(worker_b), "1500"),
    ]


def test_the_employer_is_reminded_once_in_the_last_day(
    api, employer, employee, sms, daraja, django_capture_on_commit_callbacks
):
    job = delivered_job(api, employer, employee)  # 7 days by default
    assert run_sweep(django_capture_on_commit_callbacks) == 0
    assert not Notification.objects.filter(event=REMINDER).exists()

    move_deadline(job, timedelta(hours=23))
    for _ in range(3):
        assert run_sweep(django_capture_on_commit_callbacks) == 0
    [reminder] = Notification.objects.filter(event=REMINDER)
    assert reminder.user == employer
    assert [to for to, text in sms.sent if "unless you confirm or dispute" in text] == [
        employer.phone_number
    ]
    assert b2c_to(daraja) == []
    assert detail(api, employer, job)["status"] == "delivered"

    move_deadline(job, -timedelta(seconds=1))
    assert run_sweep(django_capture_on_commit_callbacks) == 1
    assert Notification.objects.filter(event=REMINDER).count() == 1
    assert detail(api, employer, job)["payout"]["status"] == "completed"


def test_no_reminder_for_a_deadline_that_has_passed_already(
    api, employer, employee, sms, django_capture_on_commit_callbacks
):
    """If the sweep only runs after the deadline (the runner was down), the money is released;
    telling the employer it will be released "unless you confirm or dispute before" a time
    already past would be wrong."""
    job = delivered_job(api, employer, employee)
    move_deadline(job, -timedelta(hours=2))
    assert run_sweep(django_capture_on_commit_callbacks) == 1
    assert not Notification.objects.filter(event=REMINDER).exists()
    assert not [text for _, text in sms.sent if "unless you confirm or dispute" in text]


def test_a_completed_job_is_never_released_again(
    api, employer, employee, ledger, daraja, django_capture_on_commit_callbacks
):
    job = delivered_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200
    move_deadline(job, -timedelta(days=1))
    before = row_counts()
    assert run_sweep(django_capture_on_commit_callbacks) == 0
    assert row_counts() == before
    assert [op for op, _ in ledger.calls].count("release") == 1
    assert len(b2c_to(daraja)) == 1


def test_work_in_progress_that_was_never_delivered_is_not_released(
    api, employer, employee, daraja, django_capture_on_commit_callbacks
):
    job = in_progress_job(api, employer, employee)
    move_deadline(job, -timedelta(days=1))  # a deadline, but no delivery: not the sweep's
    assert run_sweep(django_capture_on_commit_callbacks) == 0
    assert detail(api, employer, job)["status"] == "in_progress"
    assert b2c_to(daraja) == []


def test_a_dispute_one_second_before_the_deadline_stops_the_release(
    api, employer, employee, daraja, django_capture_on_commit_callbacks
):
    """P15: the sweep re-checks the state under the row lock."""
    job = delivered_job(api, employer, employee)
    move_deadline(job, timedelta(seconds=1))
    assert dispute(api, employer, job).status_code == 200
    time.sleep(1.1)  # the deadline passes
    assert run_sweep(django_capture_on_commit_callbacks) == 0
    done = detail(api, employer, job)
    assert (done["status"], done["escrow"]["status"]) == ("disputed", "disputed")
    assert not LedgerOperation.objects.filter(kind="release").exists()
    assert b2c_to(daraja) == []


def test_delivery_tells_the_employer_the_deadline(api, employer, employee, sms):
    job = in_progress_job(api, employer, employee)
    assert deliver(api, employee, job).status_code == 200
    [told] = Notification.objects.filter(user=employer, event="delivered")
    assert "Confirm or dispute by" in told.body
    assert employer.phone_number in [to for to, _ in sms.sent]
