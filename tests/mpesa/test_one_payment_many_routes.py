"""One M-Pesa payment reported by every pair of routes, in both orders and at once: the STK
callback (with the receipt), the STK status query (paid, but no receipt), the C2B confirmation
(the receipt is its TransID; the MSISDN masked) and a Transaction Status result (the receipt,
the payer in full, no account). It is credited once, and the receipt ends up on that one deposit
whenever any route carried it (MONEY-SAFETY P2)."""

import itertools
import json
import threading
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from escrow.models import EscrowContract, LedgerOperation
from escrow.workflows import job_create
from mpesa import stk
from mpesa.models import MpesaDeposit, ProviderCallback, StkPushRequest
from mpesa.payers import NAIROBI
from tests.conftest import assert_books_balance
from tests.factories import EmployerFactory

ROUTES = ["stk_callback", "stk_query", "c2b", "transaction_status"]
CARRIES_RECEIPT = {"stk_callback", "c2b", "transaction_status"}


def now_mpesa() -> str:
    return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")


class Payment:
    """A job whose employer was prompted and paid KES 1,500; `deliver` reports that payment by
    one route, as Safaricom's payloads carry it."""

    def __init__(self, daraja) -> None:
        self.daraja = daraja
        self.employer = EmployerFactory()
        self.job = job_create(
            employer=self.employer, title="Paint", description="Walls", budget=Decimal("1500")
        )
        daraja.faults.hold_callbacks = True  # the prompt's own callback is a route we drive
        self.prompt = stk.stk_request(
            escrow=self.job.escrow, user=self.employer, phone_number=self.employer.phone_number
        )
        self.receipt = daraja.stk_receipt(self.prompt.checkout_request_id)
        self.msisdn = self.employer.phone_number.lstrip("+")

    def deliver(self, route: str, client: Client | None = None) -> None:
        client = client or Client()
        if route == "stk_query":
            prompt = StkPushRequest.objects.get(pk=self.prompt.pk)
            stk.stk_resolve_by_query(stk=prompt)
            return
        url, body = {
            "stk_callback": (
                reverse("mpesa-stk-callback"),
                self.daraja.stk_callback(self.prompt.checkout_request_id),
            ),
            "c2b": (reverse("mpesa-c2b-confirmation"), self.c2b()),
            "transaction_status": (reverse("mpesa-status-result"), self.status()),
        }[route]
        response = client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content
        assert response.json()["ResultCode"] == 0

    def c2b(self) -> dict:
        """Safaricom's C2B confirmation of the STK payment: the account is what the prompt sent
        as AccountReference, the MSISDN masked."""
        return {
            "TransactionType": "Pay Bill",
            "TransID": self.receipt,
            "TransTime": now_mpesa(),
            "TransAmount": "1500.00",
            "BusinessShortCode": "600000",
            "BillRefNumber": self.job.escrow.contract_id.removeprefix("ESCROW_"),
            "InvoiceNumber": "",
            "OrgAccountBalance": "49197.00",
            "ThirdPartyTransID": "",
            "MSISDN": f"{self.msisdn[:4]} ***** {self.msisdn[-3:]}",
            "FirstName": "Wanjiku",
        }

    def status(self) -> dict:
        """A Transaction Status result about the payment, shaped as Safaricom's sample."""
        stamp = now_mpesa()
        parameters = {
            "DebitPartyName": f"{self.msisdn} - Wanjiku Kamau",
            "CreditPartyName": "600000 - Kazi Trust",
            "OriginatorConversationID": "3211-416020-3",
            "InitiatedTime": int(stamp),
            "DebitAccountType": "MMF Account For Customer",
            "DebitPartyCharges": "",
            "TransactionReason": None,
            "ReasonType": "Pay Bill Online",
            "TransactionStatus": "Completed",
            "FinalisedTime": int(stamp),
            "Amount": 1500,
            "ConversationID": "AG_20261123_00004e48cf7e3533f581",
            "ReceiptNo": self.receipt,
        }
        pairs = [{"Key": k} if v is None else {"Key": k, "Value": v} for k, v in parameters.items()]
        return {
            "Result": {
                "ConversationID": "AG_20261123_0000493344ae97d86f75",
                "OriginatorConversationID": "3213-416199-2",
                "ReferenceData": {"ReferenceItem": {"Key": "Occasion"}},
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "ResultParameters": {"ResultParameter": pairs},
                "ResultType": 0,
                "TransactionID": self.receipt,
            }
        }

    def assert_credited_once(self, routes: tuple[str, ...], ledger) -> None:
        deposit = MpesaDeposit.objects.get()  # one deposit, whatever the routes
        assert deposit.amount == deposit.credited_amount == Decimal("1500.00")
        if CARRIES_RECEIPT & set(routes):
            assert deposit.receipt_number == self.receipt
        escrow = EscrowContract.objects.get(pk=self.job.escrow.pk)
        assert (escrow.funded_amount, escrow.status) == (Decimal("1500.00"), "funded")
        assert LedgerOperation.objects.filter(escrow=escrow, kind="fund").count() == 1
        assert [op for op, _ in ledger.calls].count("fund") == 1
        prompt = StkPushRequest.objects.get()
        if {"stk_callback", "stk_query"} & set(routes):
            assert (prompt.status, prompt.deposit_id) == ("completed", deposit.pk)
        assert not ProviderCallback.objects.filter(outcome="").exists()
        assert_books_balance()


@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.permutations(ROUTES, 2)),
    ids=[f"{a}-then-{b}" for a, b in itertools.permutations(ROUTES, 2)],
)
def test_one_payment_down_two_routes_is_credited_once(
    db, django_capture_on_commit_callbacks, daraja, ledger, first, second
):
    payment = Payment(daraja)
    for route in (first, second, first):  # and a replay of the first report changes nothing
        with django_capture_on_commit_callbacks(execute=True):
            payment.deliver(route)
    payment.assert_credited_once((first, second), ledger)


def test_a_second_payment_of_the_same_amount_long_after_is_its_own(db, daraja):
    """The window is what tells a second report from a second payment."""
    payment = Payment(daraja)
    payment.deliver("stk_query")
    StkPushRequest.objects.update(
        created_at=StkPushRequest.objects.get().created_at.replace(year=2025)
    )
    MpesaDeposit.objects.update(paid_at=MpesaDeposit.objects.get().paid_at.replace(year=2025))
    payment.deliver("c2b")
    deposits = MpesaDeposit.objects.order_by("pk")
    assert [d.receipt_number for d in deposits] == ["", payment.receipt]
    assert deposits[1].credited_amount == 0
    assert deposits[1].surplus_amount == Decimal("1500.00")


def test_another_payers_payment_is_not_taken_for_the_prompts(db, daraja):
    payment = Payment(daraja)
    payment.deliver("stk_query")
    payment.msisdn = "254799999999"  # masked C2B MSISDN that cannot be the employer's phone
    payment.deliver("c2b")
    assert MpesaDeposit.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.combinations(ROUTES, 2)),
    ids=[f"{a}-with-{b}" for a, b in itertools.combinations(ROUTES, 2)],
)
def test_one_payment_down_two_routes_at_once_is_credited_once(daraja, ledger, first, second):
    payment = Payment(daraja)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def report(route: str) -> None:
        try:
            barrier.wait()
            payment.deliver(route, Client())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    payment.assert_credited_once((first, second), ledger)
