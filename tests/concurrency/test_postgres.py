"""Concurrent requests against PostgreSQL's real row locks (MONEY-SAFETY P2, P4).

Threads need committed data, so these are transactional tests; each thread uses its own
connection and closes it."""

import json
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.services import user_tokens
from escrow import workflows
from escrow.models import EscrowContract, LedgerOperation
from jobs import services as job_services
from mpesa.models import MpesaDeposit
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance, c2b_payload
from tests.factories import EmployeeFactory, EmployerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 10


def run_together(request) -> list:
    """Run `request()` in THREADS threads released at the same instant; return the responses."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = request(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def post_callback(payload: dict):
    return Client().post(
        "/api/callbacks/mpesa/deposit/", json.dumps(payload), content_type="application/json"
    )


def new_job(budget: str = "1500.00"):
    employer = EmployerFactory()
    job = workflows.job_create(
        employer=employer, title="Paint", description="Two rooms", budget=Decimal(budget)
    )
    return employer, job


def test_one_callback_delivered_by_ten_threads_credits_once(ledger):
    _, job = new_job()
    ref = job.escrow.contract_id
    payload = c2b_payload(ref, "1500.00", trans_id="RKTQDM7W6S")

    responses = run_together(lambda i: post_callback(payload))

    assert [r.status_code for r in responses] == [200] * THREADS
    assert all(r.json() == {"ResultCode": 0, "ResultDesc": "Accepted"} for r in responses)
    assert MpesaDeposit.objects.filter(transaction_reference="RKTQDM7W6S").count() == 1
    escrow = EscrowContract.objects.get(contract_id=ref)
    assert escrow.funded_amount == Decimal("1500.00")
    assert escrow.status == "funded"
    assert LedgerOperation.objects.filter(escrow=escrow, kind="fund").count() == 1
    assert [key for op, key in ledger.calls if op == "fund"] == [f"{ref}:fund:RKTQDM7W6S"]
    assert ledger.get(ref).funded == 15_000_000_000
    assert_books_balance()


def test_ten_different_deposits_at_once_add_up_exactly(ledger):
    _, job = new_job("1000.00")
    ref = job.escrow.contract_id

    responses = run_together(
        lambda i: post_callback(c2b_payload(ref, "150.00", trans_id=f"RKTQDM7W{i:02d}"))
    )

    assert [r.status_code for r in responses] == [200] * THREADS
    escrow = EscrowContract.objects.get(contract_id=ref)
    deposits = MpesaDeposit.objects.filter(escrow_contract=escrow)
    assert deposits.count() == THREADS
    assert escrow.funded_amount == Decimal("1000.00")
    assert escrow.status == "funded"
    assert sum(d.surplus_amount for d in deposits) == Decimal("500.00")
    assert ledger.get(ref).funded == 10_000_000_000
    assert_books_balance()


def test_ten_concurrent_completes_release_and_pay_once(ledger, daraja):
    employer, job = new_job()
    worker = EmployeeFactory()
    post_callback(c2b_payload(job.escrow.contract_id, "1500.00"))
    job_services.job_apply(job_id=job.pk, employee=worker)
    workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
    token = user_tokens(employer)["access"]

    responses = run_together(
        lambda i: Client().post(
            f"/api/jobs/{job.pk}/complete/", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    )

    assert Counter(r.status_code for r in responses) == {200: 1, 409: THREADS - 1}
    escrow = EscrowContract.objects.get(pk=job.escrow.pk)
    assert escrow.status == "released"
    assert LedgerOperation.objects.filter(escrow=escrow, kind="release").count() == 1
    assert [op for op, _ in ledger.calls].count("release") == 1
    assert MobileMoneyPayout.objects.filter(escrow_contract=escrow).count() == 1
    b2c = daraja.sent("/mpesa/b2c/v3/paymentrequest")  # one B2C payment request, one result
    assert [p["OriginatorConversationID"] for p in b2c] == [f"PAYOUT_{escrow.contract_id[7:]}"]
    assert MobileMoneyPayout.objects.get(escrow_contract=escrow).status == "completed"
    assert_books_balance()


def test_one_stk_callback_delivered_by_ten_threads_credits_once(daraja, ledger):
    from mpesa.models import StkPushRequest
    from mpesa.stk import stk_request

    employer, job = new_job()
    daraja.faults.hold_callbacks = True
    prompt = stk_request(escrow=job.escrow, user=employer, phone_number=employer.phone_number)
    payload = daraja.stk_callback(prompt.checkout_request_id)

    responses = run_together(
        lambda i: Client().post(
            reverse("mpesa-stk-callback"), json.dumps(payload), content_type="application/json"
        )
    )

    assert [r.status_code for r in responses] == [200] * THREADS
    assert MpesaDeposit.objects.count() == 1
    assert StkPushRequest.objects.get().status == "completed"
    escrow = EscrowContract.objects.get(pk=job.escrow.pk)
    assert escrow.funded_amount == Decimal("1500.00")
    assert [op for op, _ in ledger.calls].count("fund") == 1
    assert_books_balance()
