"""Issue 12, "Money that can go back": every way an escrow ends, end to end over HTTP, with the
payouts the sandbox's Daraja was asked for (PAYOUT_PROVIDER=mpesa_b2c) and the books checked
after each scenario by the `api` fixture.

| how it ends | who | money |
| released | employer completes, or the silence window passes after delivery | to the worker |
| refunded | employer cancels before work starts | all deposits back to the employer's phone |
| resolved | an arbiter splits a disputed escrow | the worker's share to them, the rest back |
| surplus / unmatched | overpayment, or money for no escrow matched to a phone | back to it |
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from kazi.errors import Conflict
from kazi.money import to_chain
from mpesa.models import MpesaDeposit
from payouts.models import MobileMoneyPayout
from payouts.services import payout_retry, payout_return_unmatched
from tests.api.escrow_life import (
    b2c_to,
    by_recipient,
    cancel,
    complete,
    deliver,
    detail,
    dispute,
    disputed_job,
    in_progress_job,
    move_deadline,
    phone,
    resolve,
    run_sweep,
    tx_hashes,
)
from tests.api.helpers import apply_and_assign, pay, post_job
from tests.factories import ArbiterFactory, EmployeeFactory

PAYOUT_KEYS = {
    "reference",
    "kind",
    "recipient",
    "status",
    "amount",
    "phone_number",
    "transaction_reference",
    "failure_reason",
    "completed_at",
}


def assert_paid(payout: dict, kind: str, recipient: str, amount: str, to) -> None:
    assert set(payout) == PAYOUT_KEYS
    assert (payout["kind"], payout["recipient"], payout["status"], payout["amount"]) == (
        kind,
        recipient,
        "completed",
        amount,
    )
    assert payout["phone_number"] == to.phone_number
    assert payout["transaction_reference"]  # the M-Pesa receipt


# --- released ---------------------------------------------------------------------------


def test_released_when_the_employer_completes(api, employer, employee, daraja, ledger):
    job = in_progress_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200

    done = detail(api, employer, job)
    assert (done["status"], done["escrow"]["status"]) == ("completed", "released")
    [payout] = done["payouts"]
    assert_paid(payout, "release", "employee", "1500.00", employee)
    assert done["payout"] == payout
    # The platform fee is 0 on the embedded default: the worker gets all that was held.
    on_chain = ledger.get(job["escrow_contract_id"])
    assert (on_chain.status, on_chain.released) == ("released", to_chain(Decimal("1500")))
    assert tx_hashes(done)["release"]
    assert b2c_to(daraja) == [(payout["reference"], phone(employee), "1500")]


def test_released_when_the_silence_window_passes_after_delivery(
    api, employer, employee, daraja, ledger, django_capture_on_commit_callbacks
):
    """Auto-release is a completion by the clock: the same states, payout and ledger calls."""
    job = in_progress_job(api, employer, employee)
    delivered = deliver(api, employee, job).json()
    assert delivered["status"] == "delivered"
    assert delivered["escrow"]["status"] == "in_progress"
    assert delivered["delivered_at"]
    assert delivered["auto_release_at"]
    assert run_sweep(django_capture_on_commit_callbacks) == 0  # the window is still open
    assert b2c_to(daraja) == []

    move_deadline(job, -timedelta(seconds=1))
    assert run_sweep(django_capture_on_commit_callbacks) == 1

    done = detail(api, employer, job)
    assert (done["status"], done["escrow"]["status"]) == ("completed", "released")
    [payout] = done["payouts"]
    assert_paid(payout, "release", "employee", "1500.00", employee)
    assert [op for op, _ in ledger.calls].count("release") == 1
    assert b2c_to(daraja) == [(payout["reference"], phone(employee), "1500")]
    assert run_sweep(django_capture_on_commit_callbacks) == 0  # and only once


# --- refunded ---------------------------------------------------------------------------


def test_refunded_when_the_employer_cancels_a_funded_job(api, employer, daraja, ledger):
    job = post_job(api, employer)
    pay(api, job)
    started = time.perf_counter()
    cancelled = cancel(api, employer, job)
    assert cancelled.status_code == 200, cancelled.content

    done = detail(api, employer, job)  # in-process, everything has happened after the commit
    print(f"\nin-process: refund completed {time.perf_counter() - started:.3f} s after cancel")
    assert (done["status"], done["escrow"]["status"]) == ("cancelled", "refunded")
    [payout] = done["payouts"]
    assert_paid(payout, "refund", "employer", "1500.00", employer)
    assert payout["reference"] == f"REFUND_{job['escrow_contract_id'][7:]}"
    on_chain = ledger.get(job["escrow_contract_id"])
    assert (on_chain.status, on_chain.refunded) == ("refunded", to_chain(Decimal("1500")))
    assert tx_hashes(done)["refund"]  # the refund's transaction hash is on the job
    assert b2c_to(daraja) == [(payout["reference"], phone(employer), "1500")]


def test_every_deposit_of_an_assigned_job_goes_back_when_it_is_cancelled(
    api, employer, employee, daraja
):
    """Two part payments, then the employer withdraws before the rest arrives: both parts are
    owed back, in one refund of what the escrow held."""
    job = post_job(api, employer)
    pay(api, job, "600.00", trans_id="RKTQDM7W01")
    pay(api, job, "400.00", trans_id="RKTQDM7W02")
    apply_and_assign(api, employer, employee, job)
    assert cancel(api, employer, job).status_code == 200

    done = detail(api, employer, job)
    [payout] = done["payouts"]
    assert_paid(payout, "refund", "employer", "1000.00", employer)
    assert b2c_to(daraja) == [(payout["reference"], phone(employer), "1000")]
    # The worker who was assigned sees that a refund exists, not its details.
    seen_by_worker = detail(api, employee, job)["payouts"][0]
    assert seen_by_worker["phone_number"] is None
    assert seen_by_worker["transaction_reference"] is None


def test_cancelling_a_job_nobody_paid_for_sends_nothing(api, employer, daraja, ledger):
    job = post_job(api, employer)
    assert cancel(api, employer, job).status_code == 200
    assert detail(api, employer, job)["payouts"] == []
    assert b2c_to(daraja) == []
    assert ledger.calls == []


def test_a_refund_the_provider_refuses_fails_and_an_admin_retry_sends_it_once(
    api, employer, daraja, django_capture_on_commit_callbacks
):
    job = post_job(api, employer)
    pay(api, job)
    daraja.faults.b2c_reject = 1  # M-Pesa refuses the phone number (400.002.02 Invalid PartyB)
    assert cancel(api, employer, job).status_code == 200

    [failed] = detail(api, employer, job)["payouts"]
    assert (failed["kind"], failed["recipient"], failed["status"]) == (
        "refund",
        "employer",
        "failed",
    )
    assert "PartyB" in failed["failure_reason"]
    assert len(b2c_to(daraja)) == 1

    original = MobileMoneyPayout.objects.get(reference=failed["reference"])
    with django_capture_on_commit_callbacks(execute=True):
        retry = payout_retry(payout_id=original.pk)
    assert retry.reference == f"{failed['reference']}-R2"
    with pytest.raises(Conflict), django_capture_on_commit_callbacks(execute=True):
        payout_retry(payout_id=original.pk)  # an admin clicking twice

    payouts = {p["reference"]: p for p in detail(api, employer, job)["payouts"]}
    assert payouts[failed["reference"]]["status"] == "failed"  # the failed one stays failed
    assert_paid(payouts[retry.reference], "refund", "employer", "1500.00", employer)
    assert b2c_to(daraja) == [
        (failed["reference"], phone(employer), "1500"),
        (retry.reference, phone(employer), "1500"),
    ]


# --- resolved ---------------------------------------------------------------------------


def test_resolved_shares_go_to_each_side(api, employer, employee, daraja, ledger):
    job = disputed_job(api, employer, employee)
    assert (job["status"], job["escrow"]["status"]) == ("disputed", "disputed")
    arbiter = ArbiterFactory()
    resolved = resolve(api, arbiter, job, "900.00", "600.00", note="Half the rooms were done.")
    assert resolved.status_code == 200, resolved.content

    done = detail(api, employer, job)
    assert (done["status"], done["escrow"]["status"]) == ("resolved", "resolved")
    assert done["dispute"]["resolved_at"]
    assert (done["dispute"]["to_employee"], done["dispute"]["to_employer"]) == ("900.00", "600.00")
    assert done["dispute"]["note"] == "Half the rooms were done."
    payouts = by_recipient(done["payouts"])
    assert len(done["payouts"]) == 2
    assert_paid(payouts["employee"], "dispute_share", "employee", "900.00", employee)
    assert_paid(payouts["employer"], "dispute_share", "employer", "600.00", employer)
    hashes = tx_hashes(done)
    assert hashes["dispute"]
    assert hashes["resolve"]
    on_chain = ledger.get(job["escrow_contract_id"])
    assert (on_chain.status, on_chain.released, on_chain.refunded) == (
        "resolved",
        to_chain(Decimal("900")),
        to_chain(Decimal("600")),
    )
    assert sorted(b2c_to(daraja)) == sorted(
        [
            (payouts["employee"]["reference"], phone(employee), "900"),
            (payouts["employer"]["reference"], phone(employer), "600"),
        ]
    )


@pytest.mark.parametrize(
    ("to_employee", "to_employer", "paid"),
    [("1500.00", "0.00", "employee"), ("0.00", "1500.00", "employer")],
)
def test_a_side_with_no_share_is_paid_nothing(
    api, employer, employee, daraja, to_employee, to_employer, paid
):
    job = disputed_job(api, employer, employee, by=employer)
    assert resolve(api, ArbiterFactory(), job, to_employee, to_employer).status_code == 200
    [payout] = detail(api, employer, job)["payouts"]
    who = employee if paid == "employee" else employer
    assert_paid(payout, "dispute_share", paid, "1500.00", who)
    assert b2c_to(daraja) == [(payout["reference"], phone(who), "1500")]


def test_a_delivered_job_can_be_disputed_and_split(api, employer, employee, daraja):
    job = in_progress_job(api, employer, employee)
    assert deliver(api, employee, job).status_code == 200
    assert dispute(api, employer, job).json()["status"] == "disputed"
    assert resolve(api, ArbiterFactory(), job, "1000.00", "500.00").status_code == 200
    payouts = by_recipient(detail(api, employee, job)["payouts"])
    assert (payouts["employee"]["amount"], payouts["employer"]["amount"]) == ("1000.00", "500.00")
    assert len(b2c_to(daraja)) == 2


# --- surplus and unmatched --------------------------------------------------------------


def test_an_overpayment_is_paid_back_at_once(api, employer, daraja):
    job = post_job(api, employer)
    pay(api, job, "2000.00")

    funded = detail(api, employer, job)
    assert funded["escrow"]["status"] == "funded"
    [payout] = funded["payouts"]
    assert_paid(payout, "surplus", "employer", "500.00", employer)
    assert b2c_to(daraja) == [(payout["reference"], phone(employer), "500")]


def test_money_paid_after_a_job_ended_goes_back(api, employer, employee, daraja):
    """A payment that arrives for an escrow no longer taking money is all surplus."""
    job = disputed_job(api, employer, employee)
    pay(api, job, "300.00", trans_id="RKTQDM7LATE")
    deposit = MpesaDeposit.objects.get(transaction_reference="RKTQDM7LATE")
    assert (deposit.credited_amount, deposit.surplus_amount) == (0, Decimal("300.00"))
    [payout] = detail(api, employer, job)["payouts"]
    assert_paid(payout, "surplus", "employer", "300.00", employer)


def test_unmatched_money_goes_back_once_an_admin_names_the_phone(
    api, daraja, django_capture_on_commit_callbacks
):
    payer = EmployeeFactory()
    from tests.api.helpers import CALLBACK
    from tests.conftest import c2b_payload

    answer = api.anonymous().post(CALLBACK, c2b_payload("ESCROW_0000000Z", "750", "RKTUNMATCH1"))
    assert answer.json()["ResultCode"] == 0
    deposit = MpesaDeposit.objects.get(transaction_reference="RKTUNMATCH1")
    assert deposit.is_unmatched

    with django_capture_on_commit_callbacks(execute=True):
        [payout] = payout_return_unmatched(
            deposit_id=deposit.pk, phone_number="0" + payer.phone_number[4:], requested_by=None
        )
    with pytest.raises(Conflict), django_capture_on_commit_callbacks(execute=True):
        payout_return_unmatched(
            deposit_id=deposit.pk, phone_number=payer.phone_number, requested_by=None
        )

    payout.refresh_from_db()
    assert (payout.kind, payout.recipient, payout.status, payout.amount) == (
        "surplus",
        "employer",
        "completed",
        Decimal("750.00"),
    )
    assert (payout.phone_number, payout.paid_to) == (payer.phone_number, payer)
    assert b2c_to(daraja) == [(payout.reference, phone(payer), "750")]
    texts = [n.body for n in payer.notifications.all()]
    assert len(texts) == 1
    assert "750" in texts[0]


def test_a_surplus_mobile_money_cannot_pay_is_left_for_an_m_pesa_reversal(
    api, employer, daraja, django_capture_on_commit_callbacks
):
    """KES 5 paid too much: B2C pays at least KES 10, so a payout could only fail, and a deposit
    with a payout can no longer be reversed; the surplus is left owed for the admin's reversal
    (M-Pesa deposits, "Return what is owed back by M-Pesa reversal"), which returns it."""
    from mpesa.reversals import reversal_request

    job = post_job(api, employer)
    daraja.faults.external_validation = False  # M-Pesa takes it without asking us
    with django_capture_on_commit_callbacks(execute=True):
        daraja.pay_bill(job["escrow_contract_id"], 1505, trans_id="RKTSMALL05")
    deposit = MpesaDeposit.objects.get(transaction_reference="RKTSMALL05")
    assert deposit.surplus_amount == Decimal("5.00")
    assert detail(api, employer, job)["payouts"] == []
    assert b2c_to(daraja) == []

    with django_capture_on_commit_callbacks(execute=True):
        reversal = reversal_request(deposit_id=deposit.pk, requested_by=None)
    reversal.refresh_from_db()
    assert (reversal.amount, reversal.status) == (Decimal("5.00"), "completed")
    assert [p["Amount"] for p in daraja.sent("/mpesa/reversal/v1/request")] == ["5"]
    assert daraja.transaction("RKTSMALL05")["status"] == "Reversed"
