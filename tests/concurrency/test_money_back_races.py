"""Issue 12's races on PostgreSQL's real row locks (MONEY-SAFETY P12-P15): requests and sweeps
released at the same instant by a barrier, each thread on its own connection, closed after. In
each, exactly one outcome wins and the money moves once: one ledger operation, one payout set,
one B2C request per payout at the sandbox's Daraja."""

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.phones import msisdn
from accounts.services import user_tokens
from escrow import workflows
from escrow.models import Dispute, EscrowContract, LedgerOperation
from escrow.tasks import auto_release_sweep
from jobs import services as job_services
from jobs.models import JobListing, Rating
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance, c2b_payload
from tests.factories import ArbiterFactory, EmployeeFactory, EmployerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 10
ROUNDS = 4  # races between two different actions: each order has a chance to win
B2C = "/mpesa/b2c/v3/paymentrequest"
_trans_ids = itertools.count(1)


def together(*calls: Callable[[], object]) -> list:
    """Run each call in its own thread, all released at the same instant; their results (or the
    exception each raised) in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def after(seconds: float, call: Callable[[], object]) -> Callable[[], object]:
    """`call`, a little after the barrier: over the rounds of a race, the side that is quicker to
    reach the database (a task before a request, a callback before an authenticated request)
    gives the other a growing head start, so that either may win."""

    def delayed():
        time.sleep(seconds)
        return call()

    return delayed


HEAD_STARTS = [0.0, 0.005, 0.02, 0.05]  # one per round


def post(user, path: str, body: dict | None = None) -> Callable[[], object]:
    token = user_tokens(user)["access"]

    def call():
        return Client().post(
            path,
            json.dumps(body or {}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return call


def paid_job(budget: str = "1500.00") -> tuple:
    employer = EmployerFactory()
    job = workflows.job_create(
        employer=employer, title="Paint", description="Two rooms", budget=Decimal(budget)
    )
    payload = c2b_payload(job.escrow.contract_id, budget, trans_id=f"RKR{next(_trans_ids):07d}")
    answer = Client().post(
        "/api/callbacks/mpesa/deposit/", json.dumps(payload), content_type="application/json"
    )
    assert answer.json()["ResultCode"] == 0
    return employer, job


def in_progress_job() -> tuple:
    employer, job = paid_job()
    worker = EmployeeFactory()
    job_services.job_apply(job_id=job.pk, employee=worker)
    workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
    return employer, worker, job


def overdue_delivered_job() -> tuple:
    """Delivered, and its silence window ended a second ago."""
    employer, worker, job = in_progress_job()
    job_services.job_deliver(job_id=job.pk, employee=worker)
    JobListing.objects.filter(pk=job.pk).update(
        auto_release_at=timezone.now() - timedelta(seconds=1)
    )
    return employer, worker, job


def codes(responses: list) -> Counter:
    assert not [r for r in responses if isinstance(r, Exception)], responses
    return Counter(r.status_code for r in responses)


def money_moved(job, daraja) -> dict:
    """What left the escrow and went to phones."""
    escrow = EscrowContract.objects.get(job_listing_id=job.pk)
    ops = Counter(LedgerOperation.objects.filter(escrow=escrow).values_list("kind", flat=True))
    payouts = list(MobileMoneyPayout.objects.filter(escrow_contract=escrow))
    code = escrow.contract_id.removeprefix("ESCROW_")
    ours = {payout.reference for payout in payouts}  # a surplus is named by its deposit
    requests = [
        p
        for p in daraja.sent(B2C)
        if code in p["OriginatorConversationID"] or p["OriginatorConversationID"] in ours
    ]
    return {"escrow": escrow, "ops": ops, "payouts": payouts, "b2c": requests}


def assert_released_once(moved: dict, worker) -> None:
    assert moved["escrow"].status == "released"
    assert (moved["ops"]["release"], moved["ops"]["dispute"]) == (1, 0)
    [payout] = moved["payouts"]
    assert (payout.kind, payout.recipient, payout.status) == ("release", "employee", "completed")
    assert [(p["PartyB"], p["Amount"]) for p in moved["b2c"]] == [
        (msisdn(worker.phone_number), "1500")
    ]


def assert_frozen(moved: dict) -> None:
    assert moved["escrow"].status == "disputed"
    assert (moved["ops"]["release"], moved["ops"]["dispute"]) == (0, 1)
    assert moved["payouts"] == []
    assert moved["b2c"] == []


# --- P13: a dispute and a release at the same moment ------------------------------------


def test_a_dispute_and_a_completion_at_once_one_wins(daraja):
    winners = Counter()
    for _ in range(ROUNDS):
        employer, worker, job = in_progress_job()
        dispute, complete = together(
            post(worker, f"/api/jobs/{job.pk}/dispute/", {"reason": "Not paid for extras"}),
            post(employer, f"/api/jobs/{job.pk}/complete/"),
        )
        assert sorted([dispute.status_code, complete.status_code]) == [200, 409]
        moved = money_moved(job, daraja)
        if dispute.status_code == 200:
            winners["dispute"] += 1
            assert JobListing.objects.get(pk=job.pk).status == "disputed"
            assert_frozen(moved)
        else:
            winners["complete"] += 1
            assert JobListing.objects.get(pk=job.pk).status == "completed"
            assert not Dispute.objects.filter(escrow=moved["escrow"]).exists()
            assert_released_once(moved, worker)
        assert_books_balance()
    assert sum(winners.values()) == ROUNDS


def test_a_dispute_and_the_auto_release_sweep_at_once_one_wins(daraja):
    for head_start in HEAD_STARTS:
        employer, worker, job = overdue_delivered_job()
        dispute, released = together(
            post(employer, f"/api/jobs/{job.pk}/dispute/", {"reason": "The paint is peeling"}),
            after(head_start, auto_release_sweep),
        )
        assert not isinstance(released, Exception), released
        assert (dispute.status_code, released) in {(200, 0), (409, 1)}
        moved = money_moved(job, daraja)
        if dispute.status_code == 200:
            assert_frozen(moved)
        else:
            assert_released_once(moved, worker)
        assert_books_balance()


def test_a_completion_and_the_auto_release_sweep_at_once_release_once(daraja, ledger):
    employer, worker, job = overdue_delivered_job()
    complete, released = together(
        post(employer, f"/api/jobs/{job.pk}/complete/"), auto_release_sweep
    )
    assert (complete.status_code, released) in {(200, 0), (409, 1)}
    assert_released_once(money_moved(job, daraja), worker)
    assert [op for op, _ in ledger.calls].count("release") == 1
    assert_books_balance()


# --- P15: the sweep run twice at once ---------------------------------------------------


def test_the_sweep_run_twice_at_once_releases_each_job_once(daraja, ledger):
    jobs = [overdue_delivered_job() for _ in range(3)]
    first, second = together(auto_release_sweep, auto_release_sweep)
    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert first + second == len(jobs)
    for _, worker, job in jobs:
        assert_released_once(money_moved(job, daraja), worker)
    assert [op for op, _ in ledger.calls].count("release") == len(jobs)
    assert_books_balance()


# --- P14: concurrent resolutions ---------------------------------------------------------


def test_ten_concurrent_resolutions_pay_one_split(daraja, ledger):
    employer, worker, job = in_progress_job()
    assert post(worker, f"/api/jobs/{job.pk}/dispute/", {"reason": "Unpaid"})().status_code == 200
    arbiters = [ArbiterFactory() for _ in range(THREADS)]
    splits = [(100 * (i + 1), 1500 - 100 * (i + 1)) for i in range(THREADS)]  # all different

    responses = together(
        *(
            post(
                arbiter,
                f"/api/jobs/{job.pk}/resolve/",
                {"to_employee": f"{w}.00", "to_employer": f"{e}.00"},
            )
            for arbiter, (w, e) in zip(arbiters, splits, strict=True)
        )
    )

    assert codes(responses) == {200: 1, 409: THREADS - 1}
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    to_worker, to_employer = splits[winner]
    dispute = Dispute.objects.get(escrow__job_listing=job)
    assert (dispute.resolved_by, dispute.to_employee, dispute.to_employer) == (
        arbiters[winner],
        Decimal(to_worker),
        Decimal(to_employer),
    )
    moved = money_moved(job, daraja)
    assert moved["escrow"].status == "resolved"
    assert moved["ops"]["resolve"] == 1
    assert [op for op, _ in ledger.calls].count("resolve") == 1
    paid = {(p.recipient, p.kind, p.amount, p.status) for p in moved["payouts"]}
    assert paid == {
        ("employee", "dispute_share", Decimal(to_worker), "completed"),
        ("employer", "dispute_share", Decimal(to_employer), "completed"),
    }
    assert sorted((p["PartyB"], p["Amount"]) for p in moved["b2c"]) == sorted(
        [
            (msisdn(worker.phone_number), str(to_worker)),
            (msisdn(employer.phone_number), str(to_employer)),
        ]
    )
    assert_books_balance()


def test_ten_concurrent_disputes_open_one(daraja):
    employer, worker, job = in_progress_job()
    responses = together(
        *(
            post(employer if i % 2 else worker, f"/api/jobs/{job.pk}/dispute/", {"reason": "x"})
            for i in range(THREADS)
        )
    )
    assert codes(responses) == {200: 1, 409: THREADS - 1}
    assert Dispute.objects.filter(escrow__job_listing=job).count() == 1
    assert_frozen(money_moved(job, daraja))
    assert_books_balance()


# --- P12: concurrent cancellations --------------------------------------------------------


def test_ten_concurrent_cancels_refund_once_to_the_employer(daraja, ledger):
    employer, job = paid_job()

    responses = together(*(post(employer, f"/api/jobs/{job.pk}/cancel/") for _ in range(THREADS)))

    assert codes(responses) == {200: 1, 409: THREADS - 1}
    moved = money_moved(job, daraja)
    assert moved["escrow"].status == "refunded"
    assert moved["ops"]["refund"] == 1
    assert [op for op, _ in ledger.calls].count("refund") == 1
    [payout] = moved["payouts"]
    assert (payout.kind, payout.recipient, payout.amount, payout.status) == (
        "refund",
        "employer",
        Decimal("1500.00"),
        "completed",
    )
    assert payout.phone_number == employer.phone_number
    # The sandbox's Daraja was asked once, to pay the employer's phone.
    assert [(p["OriginatorConversationID"], p["PartyB"], p["Amount"]) for p in moved["b2c"]] == [
        (payout.reference, msisdn(employer.phone_number), "1500")
    ]
    assert_books_balance()


def test_ten_concurrent_ratings_by_one_side_keep_one(daraja):
    employer, _worker, job = in_progress_job()
    workflows.job_complete(job_id=job.pk)
    responses = together(
        *(post(employer, f"/api/jobs/{job.pk}/rating/", {"score": 5}) for _ in range(THREADS))
    )
    assert codes(responses) == {201: 1, 409: THREADS - 1}
    assert Rating.objects.filter(job=job).count() == 1


def test_a_deposit_and_a_cancel_at_once_send_every_shilling_back_once(daraja):
    """The last part of the budget arrives as the employer cancels: whichever is first, all that
    was paid goes back, as a refund of what was credited and a surplus of what came after."""
    for head_start in (-0.02, -0.005, 0.005, 0.02):  # < 0: the deposit's, > 0: the cancel's
        employer, job = paid_job_in_part("600.00")
        payload = c2b_payload(job.escrow.contract_id, "900.00", f"RKR{next(_trans_ids):07d}")
        deposit, cancel = together(
            after(
                max(head_start, 0),
                lambda payload=payload: Client().post(
                    "/api/callbacks/mpesa/deposit/",
                    json.dumps(payload),
                    content_type="application/json",
                ),
            ),
            after(max(-head_start, 0), post(employer, f"/api/jobs/{job.pk}/cancel/")),
        )
        assert (deposit.status_code, cancel.status_code) == (200, 200)
        moved = money_moved(job, daraja)
        assert moved["escrow"].status == "refunded"
        paid_back = sorted((p.kind, p.amount, p.status) for p in moved["payouts"])
        assert paid_back in (
            [("refund", Decimal("1500.00"), "completed")],  # the deposit first: funded, refunded
            [
                ("refund", Decimal("600.00"), "completed"),
                ("surplus", Decimal("900.00"), "completed"),
            ],
        )
        assert {p["PartyB"] for p in moved["b2c"]} == {msisdn(employer.phone_number)}
        assert len(moved["b2c"]) == len(paid_back)
        assert_books_balance()


def paid_job_in_part(amount: str) -> tuple:
    employer = EmployerFactory()
    job = workflows.job_create(
        employer=employer, title="Paint", description="Two rooms", budget=Decimal("1500.00")
    )
    payload = c2b_payload(job.escrow.contract_id, amount, trans_id=f"RKR{next(_trans_ids):07d}")
    answer = Client().post(
        "/api/callbacks/mpesa/deposit/", json.dumps(payload), content_type="application/json"
    )
    assert answer.json()["ResultCode"] == 0
    return employer, job


def test_ten_concurrent_admin_retries_of_a_failed_refund_send_one_new_attempt(daraja):
    from payouts.services import payout_retry

    employer, job = paid_job()
    daraja.faults.b2c_reject = 1  # M-Pesa refuses the first request (Invalid PartyB)
    assert post(employer, f"/api/jobs/{job.pk}/cancel/")().status_code == 200
    failed = MobileMoneyPayout.objects.get(escrow_contract__job_listing=job)
    assert (failed.kind, failed.status) == ("refund", "failed")

    results = together(*(lambda: payout_retry(payout_id=failed.pk) for _ in range(THREADS)))

    retries = [r for r in results if isinstance(r, MobileMoneyPayout)]
    refusals = [r for r in results if not isinstance(r, MobileMoneyPayout)]
    assert len(retries) == 1, results
    assert {type(r).__name__ for r in refusals} == {"Conflict"}, refusals
    [retry] = MobileMoneyPayout.objects.filter(retry_of=failed)
    assert (retry.reference, retry.status) == (f"{failed.reference}-R2", "completed")
    moved = money_moved(job, daraja)
    assert [(p["OriginatorConversationID"], p["PartyB"]) for p in moved["b2c"]] == [
        (failed.reference, msisdn(employer.phone_number)),
        (retry.reference, msisdn(employer.phone_number)),
    ]
    assert_books_balance()
