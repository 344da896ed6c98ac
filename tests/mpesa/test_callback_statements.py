"""What each provider callback costs in SQL, asserted so the count cannot creep back (issue 16).
Counted as production runs them: real transactions (no test-wide transaction adding savepoints),
outbound work queued to the broker after commit rather than run in the request. Transaction
control (BEGIN, COMMIT, ROLLBACK) is left out of the counts; savepoints are not, and there are
none where they would only repeat what a constraint already guarantees."""

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from escrow import workflows
from escrow.models import EscrowContract
from escrow.references import new_reference
from jobs import services as job_services
from kazi.celery import app as celery_app
from kazi.models import Announcement
from mpesa.models import MpesaDeposit, ProviderCallback, StkPushRequest
from payouts.models import MobileMoneyPayout, PayoutStatus
from payouts.providers.intersend import sign
from tests.conftest import c2b_payload
from tests.factories import EmployeeFactory, EmployerFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/daraja"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
CONFIRMATION = "/api/callbacks/c2b/confirmation/"
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The names of the tasks sent to the broker while the test runs."""
    sent: list[str] = []

    def record(sender: str, **kwargs: object) -> None:
        sent.append(sender)

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.fixture
def post(transactional_db, settings) -> Iterator[Callable[[str, dict], tuple[list[str], dict]]]:
    """POST as the provider would; returns the statements it ran (not counting transaction
    control) and the JSON answer. Tasks go to an in-memory broker, as to Redis in production,
    and announcements wait for beat's relay."""
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = "memory://localhost/"
    settings.ANNOUNCEMENT_RELAY_SECONDS = 1

    def send(url: str, body: dict) -> tuple[list[str], dict]:
        with CaptureQueriesContext(connection) as seen:
            answer = APIClient().post(url, body, format="json")
        sql = [q["sql"] for q in seen.captured_queries]
        return [s for s in sql if not s.upper().startswith(CONTROL)], answer.json()

    yield send
    celery_app.conf.task_always_eager = True


def job_escrow(assigned: bool = False) -> EscrowContract:
    job = workflows.job_create(
        employer=EmployerFactory(), title="Paint", description="Two rooms", budget=Decimal("1500")
    )
    if assigned:
        worker = EmployeeFactory()
        job_services.job_apply(job_id=job.pk, employee=worker)
        workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
    return EscrowContract.objects.get(pk=job.escrow.pk)


def assert_handled_after_commit() -> None:
    """What the worker does with the announcements (here, in this process)."""
    from kazi.events import announcement_handle

    for announcement in Announcement.objects.filter(handled_at__isnull=True).order_by("pk"):
        assert announcement_handle(announcement.pk)


def writes(sql: list[str]) -> list[str]:
    """Each statement as its verb and table, e.g. 'INSERT mpesa_mpesadeposit'."""
    shown = []
    for statement in sql:
        verb = statement.split()[0].upper()
        named = '"' in statement and verb not in {"SAVEPOINT", "RELEASE"}
        table = statement.split('"')[1] if named else ""
        shown.append(f"{verb} {table}")
    return shown


LOCK = "SELECT escrow_escrowcontract"  # found and locked by one statement
PAYMENT = [
    LOCK,
    "INSERT mpesa_providercallback",  # the raw body, with its outcome
    "INSERT mpesa_mpesadeposit",  # unique TransID and receipt: a replay fails here
    "INSERT escrow_ledgeroperation",  # create and fund (first money), or fund: one insert
    "UPDATE escrow_escrowcontract",
    "INSERT kazi_announcement",  # the messages, after commit
]


def test_a_c2b_payment_is_six_statements_in_one_transaction_and_no_message(post, published):
    escrow = job_escrow()
    first, answer = post(CONFIRMATION, c2b_payload(escrow.contract_id, "500", "RKTQDM7W6S"))
    assert answer == ACCEPTED
    last, answer = post(CONFIRMATION, c2b_payload(escrow.contract_id, "1000", "RKTQDM7W6T"))
    assert answer == ACCEPTED
    assert writes(first) == writes(last) == PAYMENT
    assert published == []  # the broker is not on the callback's path: beat's relay
    escrow.refresh_from_db()
    assert (escrow.funded_amount, escrow.status) == (Decimal("1500.00"), "funded")
    assert Announcement.objects.filter(topic="escrow.credited").count() == 2


def test_a_replay_is_found_by_the_insert_and_answered_as_the_first(post):
    escrow = job_escrow()
    post(CONFIRMATION, c2b_payload(escrow.contract_id, "500"))
    sql, answer = post(CONFIRMATION, c2b_payload(escrow.contract_id, "500"))
    assert answer == ACCEPTED
    assert writes(sql) == [
        LOCK,
        "INSERT mpesa_providercallback",
        "INSERT mpesa_mpesadeposit",  # refused: rolled back with the callback
        "SELECT mpesa_mpesadeposit",  # the first deposit, with its escrow
        "INSERT mpesa_providercallback",  # kept, saying it was a replay
    ]
    assert MpesaDeposit.objects.get().credited_amount == Decimal("500.00")
    outcomes = list(ProviderCallback.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes == [
        f"{escrow.contract_id}: credited KES 500.00, surplus KES 0.00",
        f"replay: {escrow.contract_id}: credited KES 500.00, surplus KES 0.00",
    ]


def test_money_for_no_escrow_is_kept_in_three_statements_or_two(post):
    sql, answer = post(CONFIRMATION, c2b_payload(new_reference(), "50", "RKTQDM7W6V"))
    assert answer == ACCEPTED
    assert writes(sql) == PAYMENT[:3]  # a reference we could have issued is looked for
    sql, answer = post(CONFIRMATION, c2b_payload("ESCROW_NOBODY00", "50", "RKTQDM7W6W"))
    assert answer == ACCEPTED
    assert writes(sql) == PAYMENT[1:3]  # a wrong check character: not one of ours
    assert [deposit.is_unmatched for deposit in MpesaDeposit.objects.all()] == [True, True]


def test_paying_an_assigned_job_in_full_and_more_starts_the_work(post):
    escrow = job_escrow(assigned=True)
    sql, answer = post(CONFIRMATION, c2b_payload(escrow.contract_id, "1600"))
    assert answer == ACCEPTED
    assert (
        writes(sql)
        == [
            *PAYMENT[:3],
            "SELECT accounts_user",  # the worker's payee, for the assign that follows the create
            *PAYMENT[3:],  # the work starts after commit, under the job's lock taken first
            "INSERT kazi_announcement",  # the KES 100 surplus, paid back by money out
        ]
    )
    escrow.refresh_from_db()
    assert escrow.status == "funded"
    assert_handled_after_commit()
    escrow.refresh_from_db()
    assert (escrow.status, escrow.job_listing.status) == ("in_progress", "in_progress")
    assert MobileMoneyPayout.objects.get().amount == Decimal("100")


def test_the_validation_url_reads_one_row_and_writes_nothing(post):
    escrow = job_escrow()
    sql, answer = post("/api/callbacks/c2b/validation/", c2b_payload(escrow.contract_id, "1500"))
    assert answer == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert writes(sql) == ["SELECT escrow_escrowcontract"]
    sql, answer = post("/api/callbacks/c2b/validation/", c2b_payload(escrow.contract_id, "1501"))
    assert answer == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
    assert len(sql) == 1
    assert not ProviderCallback.objects.exists()


def test_an_stk_payment(post):
    escrow = job_escrow()
    employer = escrow.employer
    StkPushRequest.objects.create(
        checkout_request_id="ws_CO_191220191020363925",
        escrow_contract=escrow,
        requested_by=employer,
        phone_number=employer.phone_number,
        amount=Decimal("1500.00"),
    )
    body = json.loads((FIXTURES / "stk_callback_paid.json").read_text())["sample"]
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = 1500
    sql, answer = post("/api/callbacks/stk/", body)
    assert answer == ACCEPTED
    assert writes(sql) == [
        "SELECT mpesa_stkpushrequest",  # the prompt, locked
        LOCK,
        # Often the second report of the payment (its C2B confirmation may come first): looked
        # for, and inserted under a savepoint only for the race with an unmatched delivery.
        "SELECT mpesa_mpesadeposit",
        "SAVEPOINT ",
        "INSERT mpesa_mpesadeposit",
        "INSERT escrow_ledgeroperation",
        "UPDATE escrow_escrowcontract",
        "INSERT kazi_announcement",
        "RELEASE ",
        "UPDATE mpesa_stkpushrequest",
        "INSERT mpesa_providercallback",
    ]
    assert MpesaDeposit.objects.get().receipt_number == "NLJ7RT61SV"


def test_a_b2c_result(post):
    payout = processing_payout(
        job_escrow(), OriginatorConversationID="53e3-4aa8-9fe0-8fb5e4092cdd3533373"
    )
    body = json.loads((FIXTURES / "b2c_result_success.json").read_text())["sample"]
    sql, answer = post("/api/callbacks/b2c/result/", body)
    assert answer == ACCEPTED
    assert writes(sql) == [
        "SELECT payouts_mobilemoneypayout",  # named by the ids Daraja gave
        "SELECT payouts_mobilemoneypayout",  # locked
        "UPDATE payouts_mobilemoneypayout",
        "INSERT mpesa_providercallback",
    ]
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_reference) == ("completed", "SG632NMUAB")


def processing_payout(escrow: EscrowContract, **provider_request: str) -> MobileMoneyPayout:
    return MobileMoneyPayout.objects.create(
        kind="release",
        recipient="employee",
        escrow_contract=escrow,
        reference="PAYOUT_X",
        phone_number="+254712345678",
        amount=Decimal("10"),
        status=PayoutStatus.PROCESSING,
        provider_request=provider_request,
    )


def test_an_intersend_status(post, settings):
    payout = processing_payout(job_escrow())
    news = {"reference": "PAYOUT_X", "status": "completed", "transaction_id": "IS1"}
    raw = json.dumps(news).encode()
    stamp = str(int(time.time()))
    client = APIClient()
    with CaptureQueriesContext(connection) as seen:
        answer = client.generic(
            "POST",
            "/api/callbacks/intersend/payout/",
            raw,
            content_type="application/json",
            HTTP_X_TIMESTAMP=stamp,
            HTTP_X_SIGNATURE=sign(settings.INTERSEND_API_SECRET, stamp, raw),
        )
    assert answer.json() == {"received": True}
    sql = [q["sql"] for q in seen.captured_queries if not q["sql"].upper().startswith(CONTROL)]
    assert writes(sql) == [
        "SELECT payouts_mobilemoneypayout",  # locked, by our reference
        "UPDATE payouts_mobilemoneypayout",
        "INSERT mpesa_providercallback",
    ]
    payout.refresh_from_db()
    assert payout.status == "completed"


def test_an_intasend_event(post, settings):
    payout = processing_payout(job_escrow(), tracking_id="f89r8b57")
    sql, answer = post(
        "/api/callbacks/intasend/payout/",
        {
            "challenge": settings.INTASEND_WEBHOOK_CHALLENGE,
            "tracking_id": "f89r8b57",
            "status_code": "BC100",
            "transactions": [{"status_code": "TS100", "provider_reference": "R1"}],
        },
    )
    assert answer == {"received": True}
    assert writes(sql) == [
        "SELECT payouts_mobilemoneypayout",  # named by IntaSend's tracking id
        "SELECT payouts_mobilemoneypayout",  # locked
        "UPDATE payouts_mobilemoneypayout",
        "INSERT mpesa_providercallback",
    ]
    payout.refresh_from_db()
    assert payout.status == "completed"
