"""The end of a job on a feature phone: the worker says it is done, either side disputes, the
employer confirms, and the employer sees the money coming back to them."""

from decimal import Decimal

import pytest

from accounts.models import User
from escrow import workflows
from escrow.models import Dispute, DisputeMessage
from jobs import services as jobs
from jobs.models import JobListing
from notifications.models import Notification
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance
from tests.factories import ArbiterFactory
from tests.ussd.states import job_under_way, pay_in
from tests.ussd.test_journeys import register
from ussd.describe import when

WORKER, BOSS = "+254722000111", "+254712345678"


@pytest.fixture
def worker_phone(phone):
    def make(lang: str = "1", pin: str = "4821"):
        dialer = phone(WORKER)
        register(dialer, role="2", pin=pin, lang=lang)
        return dialer, User.objects.get(phone_number=WORKER)

    return make


@pytest.fixture
def boss_phone(phone):
    def make(lang: str = "1", pin: str = "2580"):
        dialer = phone(BOSS)
        register(dialer, first="Wanjiku", last="Kamau", role="1", pin=pin, lang=lang)
        return dialer, User.objects.get(phone_number=BOSS)

    return make


def worker_opens_first_job(dialer) -> str:
    dialer.dial()
    dialer.press("2")  # My jobs
    return dialer.press("1")


def boss_opens_first_job(dialer) -> str:
    dialer.dial()
    dialer.press("1")  # My jobs
    return dialer.press("1")


@pytest.mark.parametrize(
    ("lang", "shown", "ask_pin", "done"),
    [
        pytest.param(
            "1",
            "KES 2000.00 is held for you. Say when the work is done.\n"
            "1. I finished the work\n2. Dispute",
            "Tell the employer Fix a roof is done? Enter your PIN:",
            "END Sent. KES 2000.00 is paid to you on {date} unless the employer disputes.",
            id="en",
        ),
        pytest.param(
            "2",
            "KES 2000.00 imeshikiliwa kwa ajili yako. Sema kazi ikiisha.\n"
            "1. Nimemaliza kazi\n2. Fungua mzozo",
            "Mwambie mwajiri kwamba Fix a roof imeisha? Weka PIN yako:",
            "END Imetumwa. Utalipwa KES 2000.00 tarehe {date} mwajiri asipofungua mzozo.",
            id="sw",
        ),
    ],
)
def test_a_worker_says_the_work_is_done_with_their_pin(
    worker_phone, employer, lang, shown, ask_pin, done
):
    dialer, worker = worker_phone(lang)
    job = job_under_way(employer, worker)
    assert shown in worker_opens_first_job(dialer)
    assert ask_pin in dialer.press("1")
    wrong = {"1": "Wrong PIN. 2 tries left", "2": "PIN si sahihi. Majaribio 2 yamebaki"}[lang]
    assert wrong in dialer.press("1111")
    answer = dialer.press("4821")
    job.refresh_from_db()
    assert (job.status, job.escrow.status) == ("delivered", "in_progress")
    assert answer == done.format(date=when(job.auto_release_at))
    told = Notification.objects.get(user=employer, event="delivered")
    assert "Fix a roof" in told.body

    dialer.dial()
    listing = dialer.press("2")
    assert {"1": "Fix a roof (delivered)", "2": "Fix a roof (imewasilishwa)"}[lang] in listing
    detail = dialer.press("1")
    assert when(job.auto_release_at) in detail
    waiting = {
        "1": "You said it is done. Paid to you on {date} unless the employer disputes.",
        "2": "Umesema imeisha. Utalipwa tarehe {date} mwajiri asipofungua mzozo.",
    }[lang]
    assert waiting.format(date=when(job.auto_release_at)) in detail
    assert ("1. Dispute" if lang == "1" else "1. Fungua mzozo") in detail


def test_three_wrong_pins_when_delivering_lock_the_pin_and_deliver_nothing(worker_phone, employer):
    dialer, worker = worker_phone()
    job = job_under_way(employer, worker)
    worker_opens_first_job(dialer)
    dialer.press("1")
    assert "Wrong PIN. 2 tries left" in dialer.press("0000")
    dialer.press("0001")
    locked = "END Too many wrong PINs. Try again in 30 minutes, or reset it: Settings > 3."
    assert dialer.press("0002") == locked
    worker_opens_first_job(dialer)
    dialer.press("1")
    assert dialer.press("4821") == locked  # even the right PIN, while locked
    job.refresh_from_db()
    assert (job.status, job.delivered_at) == ("in_progress", None)


def test_a_worker_disputes_with_a_listed_reason_and_both_see_what_happens_next(
    worker_phone, boss_phone
):
    boss, employer = boss_phone()
    dialer, worker = worker_phone(lang="2")
    job = job_under_way(employer, worker)
    worker_opens_first_job(dialer)
    reasons = dialer.press("2")
    assert reasons.startswith("CON Kwa nini unafungua mzozo?\n1. Sijalipwa kwa wakati\n")
    assert "4. Nyingine (andika)" in reasons
    assert "Fungua mzozo kuhusu Fix a roof?" in dialer.press("1")
    answer = dialer.press("4821")
    assert answer.startswith("END Mzozo umefunguliwa. Msuluhishi ataamua")

    dispute = Dispute.objects.get()
    assert (dispute.raised_by, dispute.reason) == (worker, "Not paid on time")  # the arbiter's
    job.refresh_from_db()
    assert (job.status, job.escrow.status) == ("disputed", "disputed")
    assert Notification.objects.filter(event="dispute_raised").count() == 2  # both parties

    mine = worker_opens_first_job(dialer)
    assert "Mzozo umefunguliwa na wewe. Msuluhishi ataamua; pesa inabaki imeshikiliwa." in mine
    assert "1. Eleza upande wako" in mine
    theirs = boss_opens_first_job(boss)
    assert "Disputed by the worker. An arbiter will decide; the money stays held" in theirs
    assert "1. Add your side" in theirs
    assert "Work done" not in theirs  # no release while disputed
    boss.dial()
    assert "Fix a roof (disputed)" in boss.press("1")


def test_an_employer_disputes_a_delivery_in_their_own_words_and_adds_their_side(
    worker_phone, boss_phone
):
    boss, employer = boss_phone()
    dialer, worker = worker_phone()
    job = job_under_way(employer, worker)
    jobs.job_deliver(job_id=job.pk, employee=worker)
    job.refresh_from_db()

    shown = boss_opens_first_job(boss)
    assert (
        f"The worker says it is done. KES 2000.00 goes to them on {when(job.auto_release_at)} "
        "unless you dispute.\n1. Work done: pay worker\n2. Dispute"
    ) in shown
    assert "1. Work not done\n2. Poor quality\n3. Not finished on time\n4. Other" in boss.press("2")
    assert "Say briefly what is wrong:" in boss.press("4")
    assert "Write 3 to 160 characters:" in boss.press("ok")
    assert "Dispute Fix a roof?" in boss.press("Only one of  the two rooms")
    assert boss.press("2580").startswith("END Dispute opened. An arbiter will decide")

    dispute = Dispute.objects.get()
    assert (dispute.raised_by, dispute.reason) == (employer, "Only one of the two rooms")
    job.refresh_from_db()
    assert job.status == "disputed"
    assert "Disputed by the employer." in worker_opens_first_job(dialer)

    boss_opens_first_job(boss)
    assert "Write your side for the arbiter:" in boss.press("1")
    assert boss.press("The bedroom walls are bare") == "END Sent to the arbiter."
    note = DisputeMessage.objects.get()
    assert (note.author, note.text) == (employer, "The bedroom walls are bare")


def test_an_employer_confirms_a_delivered_job_and_the_worker_is_paid(
    worker_phone, boss_phone, django_capture_on_commit_callbacks
):
    boss, employer = boss_phone(lang="2")
    dialer, worker = worker_phone()
    with django_capture_on_commit_callbacks(execute=True):
        job = job_under_way(employer, worker)
        jobs.job_deliver(job_id=job.pk, employee=worker)

    shown = boss_opens_first_job(boss)
    assert "Mfanyakazi anasema imeisha." in shown
    assert "1. Kazi imeisha: mlipe\n2. Fungua mzozo" in shown
    assert "Weka PIN kumlipa Otieno Odhiambo KES 2000.00" in boss.press("1")
    with django_capture_on_commit_callbacks(execute=True):
        done = boss.press("2580")
    assert done == "END Imekamilika. KES 2000.00 inatumwa kwa Otieno Odhiambo."
    assert JobListing.objects.get().status == "completed"
    payout = MobileMoneyPayout.objects.get()
    assert (payout.paid_to, payout.kind, payout.status) == (worker, "release", "completed")

    detail = worker_opens_first_job(dialer)
    assert "Done. KES 2000.00 released to you: see My payments." in detail
    assert "Imekamilika. KES 2000.00 imetolewa kwa mfanyakazi." in boss_opens_first_job(boss)
    assert_books_balance()


def test_a_job_that_changed_meanwhile_is_shown_again_as_it_now_is(worker_phone, boss_phone):
    boss, employer = boss_phone()
    _, worker = worker_phone()
    job = job_under_way(employer, worker)
    boss_opens_first_job(boss)  # offers 1. Work done, 2. Dispute
    workflows.job_dispute(job_id=job.pk, user=worker, reason="Not paid on time")
    again = boss.press("1")
    assert again.startswith("CON This job has changed:\nFix a roof\nDisputed by the worker.")
    assert "1. Add your side" in again
    assert JobListing.objects.get().status == "disputed"


def test_an_employer_sees_a_refund_after_cancelling_a_paid_job(
    boss_phone, employee, django_capture_on_commit_callbacks
):
    boss, employer = boss_phone()
    with django_capture_on_commit_callbacks(execute=True):
        held = job_under_way(employer, employee, title="Paint the gate", budget="1500")
        job = workflows.job_create(
            employer=employer, title="Fix a roof", description="d", budget=Decimal("2000")
        )
        pay_in(job)
        workflows.job_cancel(job_id=job.pk)
    refund = MobileMoneyPayout.objects.get(kind="refund")
    assert (refund.paid_to, refund.recipient, refund.status) == (employer, "employer", "completed")
    assert refund.transaction_reference

    boss.dial()
    money = boss.press("4")
    assert money == (
        "CON Held in your jobs: KES 1500.00\n1. KES 2000.00 paid (refund)\n0. Back 00. Home"
    )
    detail = boss.press("1")
    assert detail.startswith("CON Fix a roof\nRefund (job cancelled): KES 2000.00\nStatus: paid, ")
    assert f"M-Pesa receipt: {refund.transaction_reference}" in detail
    assert boss.press("0").startswith("CON Held in your jobs")

    assert "Cancelled. KES 2000.00 back to you: see Home > 4." in boss_opens_first_job(boss)
    held.refresh_from_db()
    assert held.status == "in_progress"
    assert_books_balance()


def test_money_decided_back_is_shown_coming_until_the_ledger_confirms(boss_phone, employee):
    boss, employer = boss_phone(lang="2")
    job = job_under_way(employer, employee)  # outbound work not run: nothing confirmed
    workflows.job_dispute(job_id=job.pk, user=employer, reason="Poor quality")
    workflows.job_resolve(
        job_id=job.pk,
        arbiter=ArbiterFactory(),
        to_employee=Decimal("1200.00"),
        to_employer=Decimal("800.00"),
    )
    boss.dial()
    assert boss.press("4") == (
        "CON Imeshikiliwa: KES 0.00\nInarudi kwako: KES 800.00\n"
        "Hakuna pesa iliyorudishwa bado.\n0. Rudi 00. Mwanzo"
    )


def test_an_employer_and_a_worker_see_their_shares_of_a_resolved_dispute(
    boss_phone, worker_phone, django_capture_on_commit_callbacks
):
    boss, employer = boss_phone(lang="2")
    dialer, worker = worker_phone()
    with django_capture_on_commit_callbacks(execute=True):
        job = job_under_way(employer, worker)
        workflows.job_dispute(job_id=job.pk, user=employer, reason="Poor quality")
        workflows.job_resolve(
            job_id=job.pk,
            arbiter=ArbiterFactory(),
            to_employee=Decimal("1200.00"),
            to_employer=Decimal("800.00"),
        )
    share = MobileMoneyPayout.objects.get(recipient="employer")
    assert (share.kind, share.paid_to, share.status) == ("dispute_share", employer, "completed")

    boss.dial()
    money = boss.press("4")
    assert money == "CON Imeshikiliwa: KES 0.00\n1. KES 800.00 imelipwa (mgao)\n0. Rudi 00. Mwanzo"
    detail = boss.press("1")
    assert "Mgao wako wa mzozo: KES 800.00\nHali: imelipwa, " in detail
    assert f"Risiti ya M-Pesa: {share.transaction_reference}" in detail
    shown = boss_opens_first_job(boss)
    assert "Imeamuliwa: KES 1200.00 kwa mfanyakazi, KES 800.00 kurudi kwako." in shown

    dialer.dial()
    assert "Fix a roof (decided)" in dialer.press("2")
    assert "Decided: KES 1200.00 to you, KES 800.00 to the employer." in dialer.press("1")
    dialer.dial()
    assert dialer.press("3").startswith("END KES 1200.00 done")  # My payments: their share
    assert_books_balance()


def test_a_worker_sees_a_job_given_to_someone_else_as_taken(worker_phone, employer):
    dialer, worker = worker_phone()
    job = workflows.job_create(employer=employer, title="Fix a roof", description="d", budget=2000)
    jobs.job_apply(job_id=job.pk, employee=worker)
    other = User.objects.create_user("+254722000999", None, user_type="employee")
    jobs.job_apply(job_id=job.pk, employee=other)
    workflows.job_assign(job_id=job.pk, employee_id=other.pk)
    dialer.dial()
    assert "1. Fix a roof (taken)" in dialer.press("2")
    detail = dialer.press("1")
    assert "The employer chose another worker." in detail
    assert "1." not in detail  # nothing to do on someone else's job
