"""Payouts reach the worker once, whatever the provider does (MONEY-SAFETY P5, P7). The provider
is the embedded default's: M-Pesa B2C through the sandbox's Daraja, its faults switched on."""

from datetime import timedelta

import pytest

from payouts import services as payouts
from payouts.models import MobileMoneyPayout
from payouts.providers import PayoutResult
from payouts.tasks import payout_sweep
from tests.api.helpers import in_progress_job
from tests.conftest import payout_sms

B2C = "/mpesa/b2c/v3/paymentrequest"
NOT_REGISTERED = (
    "2040: Credit Party customer type (Unregistered or Registered Customer) can't be supported by "
    "the service."
)


def sends(daraja) -> list[str]:
    """The B2C payment requests M-Pesa received, by OriginatorConversationID (our reference)."""
    return [body["OriginatorConversationID"] for body in daraja.sent(B2C)]


def complete(api, employer, employee) -> tuple[dict, MobileMoneyPayout]:
    job = in_progress_job(api, employer, employee)
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    return api.get(f"/api/jobs/{job['id']}/").json(), MobileMoneyPayout.objects.get()


def test_a_payout_goes_to_the_workers_phone_once(api, employer, employee, daraja):
    job, payout = complete(api, employer, employee)
    assert job["payout"]["status"] == "completed"
    assert payout.phone_number == employee.phone_number
    assert payout.reference == "PAYOUT_" + job["escrow_contract_id"][7:]
    assert sends(daraja) == [payout.reference]
    assert daraja.sent(B2C)[0]["PartyB"] == employee.phone_number.lstrip("+")
    paid = daraja.transaction(payout.transaction_reference)  # the M-Pesa receipt
    assert (paid["kind"], paid["status"], paid["amount"]) == ("b2c", "Completed", 150000)


def test_a_refused_payout_fails_with_the_reason_and_is_never_resent(
    api, employer, employee, daraja
):
    daraja.faults.b2c_reject = 1  # Daraja refuses the request itself
    job, payout = complete(api, employer, employee)
    assert job["payout"]["status"] == "failed"
    assert job["payout"]["failure_reason"] == "400.002.02: Bad Request - Invalid PartyB"
    payouts.payout_send(payout_id=payout.pk)  # a redelivered task
    assert sends(daraja) == [payout.reference]
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_a_lost_answer_is_resolved_by_asking_never_by_sending_again(
    api, employer, employee, daraja
):
    daraja.faults.lose_answers = 1  # M-Pesa takes the B2C request; its answer never arrives
    _, payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert payout.attempts == 2
    assert sends(daraja) == [payout.reference]
    assert daraja.b2c_count() == 1


def test_a_failure_reported_later_is_recorded(api, employer, employee, daraja):
    daraja.faults.b2c_result_code = 2040  # accepted, then refused by M-Pesa in its result
    job, _ = complete(api, employer, employee)
    assert job["payout"]["status"] == "failed"
    assert job["payout"]["failure_reason"] == NOT_REGISTERED


def test_without_a_callback_the_sweep_asks_for_the_outcome(
    api, settings, employer, employee, daraja
):
    daraja.faults.hold_callbacks = True
    _, payout = complete(api, employer, employee)
    assert payout.status == "processing"
    assert payout_sweep() == 0  # not stuck yet
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    with api._capture(execute=True):  # Transaction Status answers by callback
        assert payout_sweep() == 1
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert sends(daraja) == [payout.reference]


def test_a_duplicated_callback_changes_nothing(api, employer, employee, daraja, sandbox):
    daraja.faults.callback_copies = 2
    _, payout = complete(api, employer, employee)
    assert payout.status == "completed"
    assert sends(daraja) == [payout.reference]
    results = [d for d in sandbox.deliveries.recent() if d["kind"] == "b2c-result"]
    assert [(d["status"], d["answer_status"]) for d in results] == [("delivered", 200)] * 2


@pytest.mark.parametrize("late", ["accepted", "failed", "completed", "bogus"])
def test_a_decided_outcome_never_changes(api, employer, employee, late):
    _, payout = complete(api, employer, employee)
    decided = (payout.status, payout.completed_at, payout.transaction_reference)
    payouts.payout_apply_result(
        reference=payout.reference, result=PayoutResult(late, "OTHER", "late news")
    )
    payout.refresh_from_db()
    assert (payout.status, payout.completed_at, payout.transaction_reference) == decided


def test_a_failed_payout_stays_failed_after_a_late_success(api, employer, employee, daraja):
    daraja.faults.b2c_reject = 1
    _, payout = complete(api, employer, employee)
    payouts.payout_apply_result(reference=payout.reference, result=PayoutResult("completed", "X"))
    assert MobileMoneyPayout.objects.get().status == "failed"


def test_the_sweep_sends_a_payout_whose_dispatch_was_lost(
    db, settings, daraja, django_capture_on_commit_callbacks
):
    from escrow.tasks import ledger_sweep
    from escrow.workflows import job_complete
    from kazi.tasks import announcement_sweep
    from tests.factories import EmployeeFactory, EmployerFactory
    from tests.services.test_outbound import job_in_progress

    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    job = job_in_progress(EmployerFactory(), EmployeeFactory())
    job_complete(job_id=job.pk)
    ledger_sweep()
    announcement_sweep()  # money out's reaction to the release, its dispatch lost too
    payout = MobileMoneyPayout.objects.get()
    assert (payout.status, sends(daraja)) == ("pending", [])
    with django_capture_on_commit_callbacks(execute=True):  # M-Pesa's result calls back
        payout_sweep()
        payout_sweep()
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert sends(daraja) == [payout.reference]


def test_the_worker_is_told_by_sms_once_paid(api, employer, employee, sms, daraja):
    daraja.faults.callback_copies = 2  # told once, however often the news comes
    _, payout = complete(api, employer, employee)
    assert payout_sms(sms) == [
        f"Kazi Trust: KES 1,500.00 for your work has been sent to your M-Pesa "
        f"({payout.transaction_reference})."
    ]


def test_a_failed_payout_is_told_as_failed_never_as_sent(api, employer, employee, sms, daraja):
    daraja.faults.b2c_reject = 1
    complete(api, employer, employee)
    assert payout_sms(sms) == []
    told = [m for phone, m in sms.sent if phone == employee.phone_number]
    assert told[-1].startswith("Kazi Trust: we could not send KES 1,500.00 to your M-Pesa (")


def test_a_failed_payout_is_retried_as_a_new_attempt(api, employer, employee, daraja):
    from kazi.errors import Conflict

    daraja.faults.b2c_reject = 1
    job, failed = complete(api, employer, employee)
    with api._capture(execute=True):
        retry = payouts.payout_retry(payout_id=failed.pk)
    retry.refresh_from_db()
    failed.refresh_from_db()
    assert (failed.status, retry.status) == ("failed", "completed")
    assert retry.reference == failed.reference + "-R2"
    assert sends(daraja) == [failed.reference, retry.reference]
    assert api.get(f"/api/jobs/{job['id']}/").json()["payout"]["reference"] == retry.reference
    for payout in (failed, retry):  # the failed one was retried; the new one did not fail
        with pytest.raises(Conflict):
            payouts.payout_retry(payout_id=payout.pk)
    # the old attempt's late success changes nothing and pays nothing more
    payouts.payout_apply_result(reference=failed.reference, result=PayoutResult("completed", "X"))
    assert MobileMoneyPayout.objects.get(pk=failed.pk).status == "failed"
    assert sends(daraja) == [failed.reference, retry.reference]


@pytest.mark.parametrize(
    ("total", "parts"),
    [
        ("10.00", ["10.00"]),
        ("250000.00", ["250000.00"]),
        ("250000.01", ["125000.00", "125000.01"]),
        ("600000.00", ["200000.00", "200000.00", "200000.00"]),
        ("10000000.00", ["250000.00"] * 40),
    ],
)
def test_large_payouts_are_split_within_the_mobile_money_limit(total, parts):
    from decimal import Decimal

    split = payouts.split_amount(Decimal(total))
    assert split == [Decimal(p) for p in parts]
    assert sum(split) == Decimal(total)


def test_a_large_payout_is_sent_in_parts_each_once(api, employer, employee, daraja):
    from tests.api.helpers import apply_and_assign, pay, post_job

    job = post_job(api, employer, "400000.00")
    pay(api, job, "250000.00", trans_id="RKTQDM7W01")
    pay(api, job, "150000.00", trans_id="RKTQDM7W02")
    apply_and_assign(api, employer, employee, job)
    api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/")
    parts = MobileMoneyPayout.objects.order_by("reference")
    base = "PAYOUT_" + job["escrow_contract_id"][7:]
    assert [(p.reference, p.amount, p.status) for p in parts] == [
        (f"{base}-P1", 200000, "completed"),
        (f"{base}-P2", 200000, "completed"),
    ]
    assert sorted(sends(daraja)) == [f"{base}-P1", f"{base}-P2"]


def test_each_payout_is_tied_to_the_release_on_chain_and_the_books_follow_it(
    api, employer, employee, ledger
):
    from escrow.services import escrow_payee
    from payouts.selectors import books_summary

    _, payout = complete(api, employer, employee)
    release = payout.escrow_contract.operations.get(kind="release")
    assert payout.release_tx_hash == release.tx_hash != ""
    assert (
        payout.payee
        == escrow_payee(employee)
        == ledger.get(payout.escrow_contract.contract_id).payee
    )
    assert payout.payee.startswith("M")  # the platform account, muxed with the worker's id
    books = books_summary()
    assert books["released"] == books["paid_out"] == payout.amount
    assert books["paying"] == books["payout_failed"] == 0


def test_a_worker_killed_mid_payout_is_finished_by_the_sweep_with_one_send(
    db, settings, daraja, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker sends, then dies before recording the answer (and M-Pesa's result callback
    finds the payout still pending and is lost with it): the sweep asks M-Pesa and finishes the
    payout, never sending again."""
    from escrow.tasks import ledger_sweep
    from escrow.workflows import job_complete
    from kazi.tasks import announcement_sweep
    from tests.factories import EmployeeFactory, EmployerFactory
    from tests.services.test_outbound import job_in_progress

    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    job = job_in_progress(EmployerFactory(), EmployeeFactory())
    job_complete(job_id=job.pk)
    ledger_sweep()
    announcement_sweep()  # money out's reaction to the release, its dispatch lost too
    payout = MobileMoneyPayout.objects.get()

    def die(**kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(payouts, "payout_apply_result", die)
        with pytest.raises(SystemExit):
            payouts.payout_send(payout_id=payout.pk)
    assert sends(daraja) == [payout.reference]
    assert MobileMoneyPayout.objects.get().status == "pending"

    with django_capture_on_commit_callbacks(execute=True):  # Transaction Status calls back
        payout_sweep()
    assert MobileMoneyPayout.objects.get().status == "completed"
    assert sends(daraja) == [payout.reference]  # resolved by asking, not resending
