"""MONEY-SAFETY P16: a notification never blocks or undoes a money step, and is sent at most once;
each person is told in their own language. Over HTTP, with the console SMS sender as the phone."""

from datetime import timedelta

import pytest

from escrow import services as escrow_services
from escrow.models import LedgerOperation
from notifications.messages import Event
from notifications.models import DeliveryStatus, Notification, NotificationDelivery
from notifications.services import delivery_retry, notify
from notifications.tasks import send_notification
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutResult
from payouts.services import _tell_the_payee, payout_apply_result
from sandbox.sms import ConsoleSms
from tests.api.escrow_life import (
    cancel,
    complete,
    detail,
    dispute,
    in_progress_job,
    resolve,
    run_sweep,
)
from tests.api.helpers import pay, post_job
from tests.factories import ArbiterFactory

pytestmark = pytest.mark.django_db


class BrokenGateway:
    """The SMS gateway is down: every send raises, and is counted."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    def install(self, monkeypatch) -> "BrokenGateway":
        def send(sender, *, phone_number: str, message: str) -> None:
            self.tried.append(phone_number)
            raise OSError("Africa's Talking: 503 Service Unavailable")

        monkeypatch.setattr(ConsoleSms, "send", send)
        return self


def sms_events(api, user) -> dict[str, list[tuple[str, str]]]:
    """GET /api/notifications/ as `user`: event -> [(channel, status)] of its deliveries."""
    response = api.as_user(user).get("/api/notifications/")
    assert response.status_code == 200
    return {
        n["event"]: [(d["channel"], d["status"]) for d in n["deliveries"]]
        for n in response.json()["results"]
    }


def test_a_failing_sms_gateway_never_stops_a_release(
    api, employer, employee, monkeypatch, sms, django_capture_on_commit_callbacks
):
    job = in_progress_job(api, employer, employee)
    gateway = BrokenGateway().install(monkeypatch)

    assert complete(api, employer, job).status_code == 200

    done = detail(api, employer, job)
    assert (done["status"], done["escrow"]["status"]) == ("completed", "released")
    assert done["payout"]["status"] == "completed"
    told = sms_events(api, employee)
    assert told["released"] == [("sms", "failed")]
    assert told["payout_sent"] == [("sms", "failed")]
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.FAILED).exists()
    failed = NotificationDelivery.objects.get(notification__event="released")
    assert "503" in failed.last_error
    tries = len(gateway.tried)

    # The task runs again (a redelivered message, the sweep): a failed delivery is not resent.
    with django_capture_on_commit_callbacks(execute=True):
        for delivery in NotificationDelivery.objects.all():
            send_notification.delay(delivery.pk)
    assert len(gateway.tried) == tries

    # The gateway is back and an admin sends the failed one again: once, however often asked.
    monkeypatch.undo()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            delivery_retry(delivery_id=failed.pk)
        with django_capture_on_commit_callbacks(execute=True):
            send_notification.delay(failed.pk)
    released_texts = [text for _, text in sms.sent if "is released to you" in text]
    assert len(released_texts) == 1
    assert sms_events(api, employee)["released"] == [("sms", "sent")]


def test_a_failing_gateway_never_stops_a_refund_or_a_resolution(
    api, employer, employee, monkeypatch
):
    BrokenGateway().install(monkeypatch)
    refunded = post_job(api, employer)
    pay(api, refunded, trans_id="RKTREFUND01")
    assert cancel(api, employer, refunded).status_code == 200
    assert detail(api, employer, refunded)["payout"]["status"] == "completed"

    job = in_progress_job(api, employer, employee)
    assert dispute(api, employee, job).status_code == 200
    assert resolve(api, ArbiterFactory(), job, "1000.00", "500.00").status_code == 200
    payouts = detail(api, employer, job)["payouts"]
    assert [p["status"] for p in payouts] == ["completed", "completed"]
    assert sms_events(api, employer)["dispute_resolved"] == [("sms", "failed")]


def test_every_sms_is_sent_once_even_when_its_task_runs_again(
    api, employer, employee, sms, daraja, django_capture_on_commit_callbacks
):
    daraja.faults.callback_copies = 2  # M-Pesa's B2C result arrives twice
    job = in_progress_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200
    sent = list(sms.sent)
    assert len(sent) == len(set(sent))
    assert [text for _, text in sent if "sent to your M-Pesa" in text] == [
        f"Kazi Trust: KES 1,500.00 for your work has been sent to your M-Pesa "
        f"({detail(api, employee, job)['payout']['transaction_reference']})."
    ]

    with django_capture_on_commit_callbacks(execute=True):
        for delivery in NotificationDelivery.objects.all():
            send_notification.delay(delivery.pk)
            send_notification.delay(delivery.pk)
    assert sms.sent == sent
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_step_whose_code_runs_twice_tells_nobody_twice(
    api, employer, employee, sms, django_capture_on_commit_callbacks
):
    job = in_progress_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200
    notes, texts = Notification.objects.count(), len(sms.sent)

    payout = MobileMoneyPayout.objects.get()
    release = LedgerOperation.objects.get(kind="release")
    with django_capture_on_commit_callbacks(execute=True):
        # The release's confirmation, the payout's news and its message, each a second time.
        escrow_services.ledger_operation_confirm(op_id=release.pk, tx_hash=release.tx_hash)
        payout_apply_result(reference=payout.reference, result=PayoutResult("completed", "X"))
        _tell_the_payee(payout)
        # And the notification call itself, twice, as a step retried from the top would.
        for _ in range(2):
            notify(
                user=employee,
                event=Event.RELEASED,
                subject=job["escrow_contract_id"],
                job="Paint",
                amount=payout.amount,
            )
    assert (Notification.objects.count(), len(sms.sent)) == (notes, texts)


def test_a_reminder_is_sent_once_however_often_the_sweep_runs(
    api, employer, employee, sms, django_capture_on_commit_callbacks
):
    from jobs.services import job_auto_release_remind
    from tests.api.escrow_life import delivered_job, move_deadline

    job = delivered_job(api, employer, employee)
    move_deadline(job, timedelta(hours=2))
    run_sweep(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_auto_release_remind(job_id=job["id"]) is False
    run_sweep(django_capture_on_commit_callbacks)
    assert Notification.objects.filter(event="auto_release_soon").count() == 1
    assert len([t for _, t in sms.sent if "unless you confirm or dispute" in t]) == 1


def test_each_person_is_told_in_their_language(api, employer, employee, sms):
    employee.language = "sw"
    employee.save()
    job = in_progress_job(api, employer, employee)
    assert dispute(api, employer, job).status_code == 200
    assert resolve(api, ArbiterFactory(), job, "1000.00", "500.00").status_code == 200

    to_worker = {n.event: n for n in Notification.objects.filter(user=employee)}
    to_employer = {n.event: n for n in Notification.objects.filter(user=employer)}
    assert to_worker["assigned"].body.startswith("Kazi Trust: umepata kazi")
    assert to_worker["dispute_raised"].subject == "Malalamiko yamewasilishwa"
    assert "amepinga" in to_worker["dispute_raised"].body
    assert "yameamuliwa" in to_worker["dispute_resolved"].body
    assert "zimetumwa kwa M-Pesa yako" in to_worker["payout_sent"].body
    assert to_employer["dispute_raised"].subject == "A dispute was raised"
    assert "is decided" in to_employer["dispute_resolved"].body
    assert "sent back to your M-Pesa" in to_employer["refund_sent"].body
    for event, note in to_worker.items():  # and none of the worker's in English
        assert "Kazi Trust: the" not in note.body, event
        assert " your " not in note.body, event
    worker_texts = [text for to, text in sms.sent if to == employee.phone_number]
    assert worker_texts
    assert all(text in {n.body for n in to_worker.values()} for text in worker_texts)


def test_people_see_only_their_own_notifications(api, employer, employee):
    job = in_progress_job(api, employer, employee)  # paid before the worker was assigned
    assert complete(api, employer, job).status_code == 200
    mine = api.as_user(employee).get("/api/notifications/").json()["results"]
    assert {n["event"] for n in mine} == {"assigned", "escrow_funded", "released", "payout_sent"}
    # Paid before they were assigned, the worker is still told it is paid and work can start.
    assert "paid in full" in next(n["body"] for n in mine if n["event"] == "escrow_funded")
    theirs = api.as_user(employer).get("/api/notifications/").json()["results"]
    assert {n["event"] for n in theirs} == {"escrow_funded"}
    assert api.anonymous().get("/api/notifications/").status_code == 401


def test_every_money_text_has_a_kiswahili_translation_with_the_same_blanks():
    """A translation naming a blank the step does not fill would fail to render (see below)."""
    import re

    from babel.messages.pofile import read_po
    from django.conf import settings

    from notifications.messages import TEXTS

    path = settings.BASE_DIR / "locale" / "sw" / "LC_MESSAGES" / "django.po"
    with path.open("rb") as po:
        kiswahili = {m.id: m.string for m in read_po(po) if m.id}
    for event, texts in TEXTS.items():
        for english in texts:
            assert kiswahili.get(english), f"{event}: no Kiswahili for {english!r}"
            blanks = set(re.findall(r"%\((\w+)\)s", english))
            assert set(re.findall(r"%\((\w+)\)s", kiswahili[english])) == blanks, event


def test_a_text_that_cannot_be_rendered_never_blocks_the_money_step(
    api, employer, employee, monkeypatch, sms
):
    """P16: a broken translation (a blank misspelt by a translator) must not roll back the
    release or the payout's result: the person is told in English instead."""
    from django.utils import translation

    from notifications import messages

    real = messages.gettext

    def misspelt(text: str) -> str:
        if translation.get_language() == "sw" and "%(amount)s" in text:
            return real(text).replace("%(amount)s", "%(kiasi)s")
        return real(text)

    monkeypatch.setattr(messages, "gettext", misspelt)
    employee.language = "sw"
    employee.save()
    job = in_progress_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200

    done = detail(api, employer, job)
    assert (done["escrow"]["status"], done["payout"]["status"]) == ("released", "completed")
    told = {n.event: n.body for n in Notification.objects.filter(user=employee)}
    assert told["released"].startswith("Kazi Trust: KES 1,500.00 for")  # English, but told
    assert "zimetumwa" not in told["payout_sent"]
    assert told["payout_sent"] in [text for _, text in sms.sent]
