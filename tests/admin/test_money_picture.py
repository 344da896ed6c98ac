"""The admin's front page shows the money picture: each number from kazi.admin_picture's one
selector (a fixed number of queries), each a link to the admin list showing exactly those rows."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kazi.admin_picture import Figure, money_picture
from tests.admin.conftest import result_count, text
from tests.api.helpers import CALLBACK, apply_and_assign, pay, post_job
from tests.conftest import c2b_payload
from tests.factories import EmployeeFactory, EmployerFactory


def funded_job(api, budget: str, trans_id: str, paid: str | None = None, employer=None) -> dict:
    job = post_job(api, employer or EmployerFactory(), budget)
    assert pay(api, job, paid or budget, trans_id=trans_id).status_code == 200
    return job


def working_job(api, budget: str, trans_id: str) -> tuple[dict, object, object]:
    employer, employee = EmployerFactory(), EmployeeFactory()
    job = post_job(api, employer, budget)
    pay(api, job, trans_id=trans_id)
    apply_and_assign(api, employer, employee, job)
    return job, employer, employee


@pytest.fixture
def scenario(api, daraja, ledger, sms, monkeypatch):
    """A held escrow, a refund on its way, a failed payout, an unmatched deposit, a failed ledger
    operation, an open dispute, an overpayment being returned and an SMS that could not be sent."""

    def gateway_down(**_):
        raise OSError("SMS gateway unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(sms, "send", gateway_down)
        held = funded_job(api, "1500.00", "RKTQDM0001")  # its employer is told: that SMS fails

    daraja.faults.hold_callbacks = True  # M-Pesa takes the payouts; their results wait
    employer = EmployerFactory()
    refunded = funded_job(api, "2000.00", "RKTQDM0002", employer=employer)
    assert api.as_user(employer).post(f"/api/jobs/{refunded['id']}/cancel/").status_code == 200
    overpaid = funded_job(api, "400.00", "RKTQDM0003", paid="500.00")
    daraja.faults.hold_callbacks = False

    daraja.faults.b2c_reject = 1
    released, owner, _ = working_job(api, "3000.00", "RKTQDM0004")
    assert api.as_user(owner).post(f"/api/jobs/{released['id']}/complete/").status_code == 200

    unmatched = c2b_payload("ESCROW_NOBODY00", "700.00", "RKTQDM0005")
    assert api.anonymous().post(CALLBACK, unmatched).status_code == 200

    blocked = post_job(api, EmployerFactory(), "1200.00")
    ledger.create(reference=blocked["escrow_contract_id"], amount=1, idempotency_key="taken")
    pay(api, blocked, trans_id="RKTQDM0006")

    disputed, boss, _ = working_job(api, "900.00", "RKTQDM0007")
    reason = {"reason": "Nothing was done."}
    assert api.as_user(boss).post(f"/api/jobs/{disputed['id']}/dispute/", reason).status_code == 200
    return {"held": held, "refunded": refunded, "overpaid": overpaid, "disputed": disputed}


EXPECTED = {
    "held": Figure(4, Decimal("4000.00")),  # 1500 + 400 + 1200 (ledger blocked) + 900 (dispute)
    "owed_refunds": Figure(1, Decimal("2000.00")),
    "owed_surpluses": Figure(1, Decimal("100.00")),
    "owed_dispute_shares": Figure(0, Decimal("0.00")),
    "owed_not_returned": Figure(1, Decimal("700.00")),
    "owed_before_ledger": Figure(0, Decimal("0.00")),
    "unmatched": Figure(1, Decimal("700.00")),
    "failed_ledger_operations": Figure(1),
    "failed_payouts": Figure(1, Decimal("3000.00")),
    "failed_deliveries": Figure(1),
    "open_disputes": Figure(1, Decimal("900.00")),
}


def test_the_picture_counts_what_is_held_owed_and_waiting(scenario):
    picture = money_picture()
    assert {name: getattr(picture, name) for name in EXPECTED} == EXPECTED
    assert picture.owed_back == Figure(3, Decimal("2800.00"))
    assert picture.oldest_open_dispute is not None


def test_the_picture_takes_the_same_queries_whatever_the_books_hold(db):
    with CaptureQueriesContext(connection) as empty:
        assert money_picture().held == Figure(0, Decimal("0.00"))
    assert len(empty) == 7
    # (the scenario's own test below counts them again with everything in the books)


def test_the_picture_with_everything_in_it_takes_as_many_queries(scenario):
    with CaptureQueriesContext(connection) as full:
        money_picture()
    assert len(full) == 7


LINES = [
    # label, count, amount (as shown), list it opens
    ("Held in escrow", 4, "KES 4,000.00", "/admin/escrow/escrowcontract/?money=held"),
    ("Owed back, not yet sent", 3, "KES 2,800.00", None),
    (
        "Refunds",
        1,
        "KES 2,000.00",
        "/admin/payouts/mobilemoneypayout/"
        "?kind__exact=refund&recipient__exact=employer&progress=unpaid",
    ),
    (
        "Overpayments and unmatched money, by payout",
        1,
        "KES 100.00",
        "/admin/payouts/mobilemoneypayout/"
        "?kind__exact=surplus&recipient__exact=employer&progress=unpaid",
    ),
    (
        "Employers' dispute shares",
        0,
        "KES 0.00",
        "/admin/payouts/mobilemoneypayout/"
        "?kind__exact=dispute_share&recipient__exact=employer&progress=unpaid",
    ),
    (
        "Overpayments and unmatched money not yet returned",
        1,
        "KES 700.00",
        "/admin/mpesa/mpesadeposit/?returned=no",
    ),
    (
        "Refunds and employers' shares waiting for the ledger",
        0,
        "KES 0.00",
        "/admin/escrow/escrowcontract/?money=owed_back",
    ),
    (
        "Unmatched deposits",
        1,
        "KES 700.00",
        "/admin/mpesa/mpesadeposit/?matched=no&returned=no",
    ),
    ("Failed ledger operations", 1, "", "/admin/escrow/ledgeroperation/?status__exact=failed"),
    ("Failed payouts", 1, "KES 3,000.00", "/admin/payouts/mobilemoneypayout/?progress=failed"),
    (
        "Failed notification deliveries",
        1,
        "",
        "/admin/notifications/notificationdelivery/?status__exact=failed",
    ),
    ("Open disputes", 1, "KES 900.00", "/admin/escrow/dispute/?state=open"),
]


def test_the_front_page_shows_each_number_linked_to_its_list(scenario, admin_client, superuser):
    page = admin_client.as_user(superuser).get("/admin/")
    assert page.status_code == 200
    shown = [(line.label, line.count, line.amount or "", line.url or None) for line in _lines(page)]
    assert shown == LINES
    html = page.content.decode()
    for label, _, _, url in LINES:
        if url:
            assert f'href="{url.replace("&", "&amp;")}"' in html
        assert f"{label} " in text(page)
    assert "Held in escrow escrows holding money 4 KES 4,000.00" in text(page)
    assert "Open disputes oldest raised 0" in text(page)  # minutes ago

    for label, count, _, url in LINES:  # each link opens a list of exactly that many rows
        if url:
            listing = admin_client.get(url)
            assert listing.status_code == 200, label
            assert result_count(listing) == count, label


def test_the_linked_lists_show_the_right_rows(scenario, admin_client, superuser):
    admin_client.as_user(superuser)
    refunds = admin_client.get(LINES[2][3]).context["cl"].result_list
    assert [p.reference for p in refunds] == [
        "REFUND_" + scenario["refunded"]["escrow_contract_id"][7:]
    ]
    disputes = admin_client.get(LINES[-1][3]).context["cl"].result_list
    assert [d.escrow.contract_id for d in disputes] == [scenario["disputed"]["escrow_contract_id"]]
    unmatched = admin_client.get(LINES[7][3]).context["cl"].result_list
    assert [d.transaction_reference for d in unmatched] == ["RKTQDM0005"]


def test_staff_see_only_the_lines_they_may_open(scenario, admin_client, clerk):
    from django.contrib.auth.models import Permission

    page = admin_client.as_user(clerk).get("/admin/")
    assert len(_lines(page)) == len(LINES)  # everything
    clerk.user_permissions.remove(
        *Permission.objects.filter(content_type__app_label__in=["mpesa", "payouts"])
    )
    page = admin_client.get("/admin/")
    assert [line.label for line in _lines(page)] == [
        "Held in escrow",
        "Owed back, not yet sent",
        "Refunds and employers' shares waiting for the ledger",
        "Failed ledger operations",
        "Failed notification deliveries",
        "Open disputes",
    ]


def _lines(page) -> list:
    flat = []
    for line in page.context["money_picture"]:
        flat += [line, *line.parts]
    return flat
