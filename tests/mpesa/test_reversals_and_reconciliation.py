"""Money nobody's escrow needs goes back by M-Pesa reversal; the books are reconciled against
M-Pesa's statement."""

import csv
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import User
from mpesa.models import MpesaDeposit, MpesaReversal
from mpesa.reversals import reversal_request
from payouts.models import MobileMoneyPayout
from tests.api.helpers import pay, post_job


@pytest.fixture
def admin_request(db):
    admin = User.objects.create_superuser(
        "0700000001", "admin-pass-phrase-9", first_name="A", last_name="D"
    )
    request = RequestFactory().post("/")
    request.user = admin
    request._messages = type("M", (), {"add": lambda *a, **k: None})()
    return request


def return_money(api, admin_request, deposits):
    admin = site._registry[MpesaDeposit]
    with api._capture(execute=True):
        admin.return_money(
            admin_request, MpesaDeposit.objects.filter(pk__in=[d.pk for d in deposits])
        )


def pay_unvalidated(api, daraja, account: str, amount: int, trans_id: str) -> None:
    """A Pay Bill payment M-Pesa completes without asking our validation URL (external
    validation is off on the shortcode): money we would have refused still arrives."""
    daraja.faults.external_validation = False
    with api._capture(execute=True):
        paid = daraja.pay_bill(account, amount, trans_id=trans_id)
    assert paid["confirmation"]["answer_status"] == 200
    daraja.faults.external_validation = True


def test_unmatched_money_is_reversed_once_and_a_surplus_is_paid_back_instead(
    api, employer, daraja, admin_request
):
    job = post_job(api, employer, "1000.00")
    pay_unvalidated(api, daraja, job["escrow_contract_id"], 1500, "RKTQDM7W01")  # KES 500 over
    pay_unvalidated(api, daraja, "rent", 300, "RKTQDM7W02")
    surplus = MobileMoneyPayout.objects.get()  # the overpayment went straight back by payout
    assert (surplus.kind, surplus.recipient, surplus.amount, surplus.status) == (
        "surplus",
        "employer",
        Decimal("500.00"),
        "completed",
    )
    assert surplus.phone_number == employer.phone_number
    deposits = list(MpesaDeposit.objects.order_by("transaction_reference"))
    return_money(api, admin_request, deposits)
    return_money(api, admin_request, deposits)  # clicked twice: still one reversal each

    reversals = {r.deposit.transaction_reference: r for r in MpesaReversal.objects.all()}
    assert {ref: (r.amount, r.status) for ref, r in reversals.items()} == {
        "RKTQDM7W02": (Decimal("300.00"), "completed"),  # the surplus is not returned twice
    }
    sent = [body for path, body in daraja.requests if path == "/mpesa/reversal/v1/request"]
    assert [(b["TransactionID"], b["Amount"]) for b in sent] == [("RKTQDM7W02", "300")]
    assert all(b["CommandID"] == "TransactionReversal" for b in sent)
    # M-Pesa's side: the unmatched payment reversed, the money back with the payer.
    assert [daraja.transaction(r)["status"] for r in ("RKTQDM7W01", "RKTQDM7W02")] == [
        "Completed",
        "Reversed",
    ]


def test_a_reversal_of_money_mpesa_never_received_fails_with_its_code(api, daraja):
    api.anonymous().post(  # a confirmation M-Pesa never sent: no such transaction
        "/api/callbacks/mpesa/deposit/",
        {"TransID": "RKTQDM7W02", "TransAmount": "300", "BillRefNumber": "rent"},
    )
    with api._capture(execute=True):
        reversal_request(deposit_id=MpesaDeposit.objects.get().pk, requested_by=None)
    reversal = MpesaReversal.objects.get()
    assert (reversal.status, reversal.result_code, reversal.result_message) == (
        "failed",
        "R000002",
        "The OriginalTransactionID is invalid.",
    )


def test_nothing_owed_back_is_refused(api, employer):
    job = post_job(api, employer)
    pay(api, job)
    from kazi.errors import Conflict

    with pytest.raises(Conflict):
        reversal_request(deposit_id=MpesaDeposit.objects.get().pk, requested_by=None)
    assert MpesaReversal.objects.count() == 0


def test_a_repeated_reversal_result_changes_nothing(api, employer, daraja):
    pay_unvalidated(api, daraja, "rent", 300, "RKTQDM7W02")
    daraja.faults.callback_copies = 2
    with api._capture(execute=True):
        reversal_request(deposit_id=MpesaDeposit.objects.get().pk, requested_by=None)
    reversal = MpesaReversal.objects.get()
    assert reversal.status == "completed"
    late = {
        "Result": {
            "ResultType": 0,
            "ResultCode": "2001",
            "ResultDesc": "late failure",
            "ConversationID": reversal.conversation_id,
        }
    }
    assert api.anonymous().post("/api/callbacks/reversal/result/", late).status_code == 200
    assert MpesaReversal.objects.get().status == "completed"


def write_statement(path, rows):
    fields = [
        "Receipt No.",
        "Completion Time",
        "Details",
        "Transaction Status",
        "Paid In",
        "Withdrawn",
        "Balance",
        "A/C No.",
    ]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for receipt, when, amount in rows:
            writer.writerow(
                {
                    "Receipt No.": receipt,
                    "Completion Time": when,
                    "Transaction Status": "Completed",
                    "Paid In": amount,
                    "Details": "Pay Bill from 2547*****678",
                    "Withdrawn": "",
                    "Balance": "",
                    "A/C No.": "x",
                }
            )


def test_the_report_finds_every_planted_difference(api, employer, tmp_path, capsys):
    job = post_job(api, employer, "3000.00")
    pay(api, job, "1000.00", trans_id="RKTQDM7W01")
    pay(api, job, "500.00", trans_id="RKTQDM7W02")
    pay(api, job, "200.00", trans_id="RKTQDM7W03")
    today = timezone.localdate().isoformat()
    statement = tmp_path / "statement.csv"
    write_statement(
        statement,
        [
            ("RKTQDM7W01", f"{today} 10:15:00", "1,000.00"),  # agrees
            ("RKTQDM7W02", f"{today} 10:16:00", "550.00"),  # amount differs
            ("RKTQDM7W99", f"{today} 10:17:00", "700.00"),  # never reached us
            ("RKTQDM7W98", "2001-01-01 10:17:00", "5.00"),  # another day: ignored
        ],
    )  # and RKTQDM7W03 is ours but not on the statement
    with pytest.raises(CommandError, match="3 difference"):
        call_command("mpesa_report", "--date", today, "--statement", str(statement))
    out = capsys.readouterr().out
    assert "RKTQDM7W02: M-Pesa says KES 550.00, our books KES 500.00" in out
    assert "RKTQDM7W99: KES 700.00 received, not in our books" in out
    assert "RKTQDM7W03: KES 200.00 in our books, not on the statement" in out
    assert "RKTQDM7W01" not in out


def test_the_report_is_quiet_when_books_agree(api, employer, tmp_path, capsys):
    job = post_job(api, employer)
    pay(api, job, "1500.00", trans_id="RKTQDM7W01")
    day = timezone.localdate().isoformat()
    statement = tmp_path / "s.csv"
    write_statement(statement, [("RKTQDM7W01", f"{day} 10:15:00", "1500.00")])
    call_command("mpesa_report", "--date", day, "--statement", str(statement))
    assert "books and statement agree" in capsys.readouterr().out


def test_a_reversal_whose_result_never_came_is_settled_by_transaction_status(api, daraja, settings):
    from datetime import timedelta

    from mpesa.tasks import mpesa_reconcile

    pay_unvalidated(api, daraja, "rent", 300, "RKTQDM7W02")
    daraja.faults.callback_copies = 0  # the reversal's result is lost
    with api._capture(execute=True):
        reversal_request(deposit_id=MpesaDeposit.objects.get().pk, requested_by=None)
    assert MpesaReversal.objects.get().status == "submitted"

    daraja.faults.callback_copies = 1
    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    with api._capture(execute=True):
        assert mpesa_reconcile() == 1
    reversal = MpesaReversal.objects.get()
    assert (reversal.status, reversal.result_message) == (
        "completed",
        "Confirmed by Transaction Status",
    )
    sent = [body for path, body in daraja.requests if path == "/mpesa/transactionstatus/v1/query"]
    assert [(b["TransactionID"], b["CommandID"]) for b in sent] == [
        ("RKTQDM7W02", "TransactionStatusQuery")
    ]
    reversals_sent = [p for p, _ in daraja.requests if p == "/mpesa/reversal/v1/request"]
    assert len(reversals_sent) == 1  # never a second reversal
