"""Who sees what, page by page and role by role (jobs/visibility.py, as the API): the job's
people see everything that concerns them; everyone else only the public part, never how to pay,
never a phone number or a payer's name that is not theirs."""

from decimal import Decimal

import pytest

from escrow import workflows
from escrow.models import Dispute
from jobs.models import JobStatus
from mpesa.models import MpesaDeposit
from payouts.models import MobileMoneyPayout
from tests.web.helpers import html, page_ids, text

PUBLIC_PARTS = [
    "Paint a two-room house",
    "Walls and ceiling in Kasarani",
    "KES 1,500.00",
    "Wanjiku Kamau",
]
PRIVATE_IDS = {
    "pay",
    "pay-form",
    "paybill",
    "account-number",
    "live-status",
    "deposits",
    "payouts",
    "applicants",
    "proof-link",
    "worker",
    "dispute",
}


def phone_forms(user) -> list[str]:
    """Every way a page could write the user's phone number."""
    e164 = user.phone_number
    local = "0" + e164[4:]
    return [e164, e164[1:], local, f"{local[:4]} {local[4:]}"]


def assert_no_phone_of(response, *users) -> None:
    body = html(response)
    for user in users:
        for form in phone_forms(user):
            assert form not in body, f"{form} ({user.get_full_name()}) shown"


@pytest.fixture
def paid_out(story, employer, worker):
    """A job released to the worker and paid to their phone, its money paid in by Pay Bill."""
    job = story.completed(employer, worker)
    MpesaDeposit.objects.update(payer_name="PAYERNAME")  # as Safaricom sends it
    return job


def test_anyone_sees_the_public_part_of_an_open_job_and_never_how_to_pay(
    web, browser, story, employer, worker, other_worker
):
    job = story.applied(story.paid(story.posted(employer)), worker, "call me")
    for viewer in [None, other_worker, worker]:  # anonymous, another worker, an applicant
        page = (
            browser().login(viewer).get(f"/jobs/{job.pk}/")
            if viewer
            else browser().get(f"/jobs/{job.pk}/")
        )
        assert page.status_code == 200
        for part in PUBLIC_PARTS:
            assert part in text(page)
        assert "Paid into escrow" in text(page)
        assert not PRIVATE_IDS & page_ids(page), PRIVATE_IDS & page_ids(page)
        assert job.escrow.contract_id not in html(page)  # the account number to pay with
        assert "600000" not in text(page)  # the Pay Bill number
        assert_no_phone_of(page, employer, worker)
        assert "call me" not in text(page) or viewer == worker  # an applicant's own message


def test_the_employer_sees_how_to_pay_the_applicants_and_their_numbers(
    web, story, employer, worker
):
    job = story.applied(story.posted(employer), worker)
    page = web.login(employer).get(f"/jobs/{job.pk}/")
    assert {"pay", "pay-form", "account-number", "applicants", "live-status"} <= page_ids(page)
    assert "0722 000111" in text(page)  # to call an applicant


@pytest.mark.parametrize("status", ["in_progress", "completed", "cancelled", "disputed"])
def test_a_job_past_open_is_a_friendly_404_for_strangers(
    browser, story, employer, worker, other_worker, status
):
    job = {
        "in_progress": lambda: story.in_progress(employer, worker),
        "completed": lambda: story.completed(employer, worker),
        "cancelled": lambda: story.cancelled(employer),
        "disputed": lambda: story.disputed(employer, worker),
    }[status]()
    for viewer in [None, other_worker]:
        web = browser().login(viewer) if viewer else browser()
        page = web.get(f"/jobs/{job.pk}/")
        assert page.status_code == 404
        assert "We could not find that page" in text(page)
        assert job.title not in text(page)


def test_an_applicant_not_chosen_sees_no_more_than_the_public(
    browser, story, employer, worker, other_worker
):
    job = story.posted(employer)
    story.applied(job, other_worker)
    job = story.assigned(story.paid(job), worker)
    page = browser().login(other_worker).get(f"/jobs/{job.pk}/")
    assert page.status_code == 200
    assert "Otieno" not in text(page)  # who was chosen is the parties' business
    assert not PRIVATE_IDS & page_ids(page)
    assert_no_phone_of(page, employer, worker)


def test_the_worker_sees_their_payout_but_not_how_the_employer_paid(
    browser, paid_out, employer, worker
):
    page = browser().login(worker).get(f"/jobs/{paid_out.pk}/")
    payout = MobileMoneyPayout.objects.get()
    assert payout.transaction_reference in text(page)
    assert "0722 000111" in text(page)  # their own phone, where the money went
    assert not {"pay", "pay-form", "deposits", "account-number"} & page_ids(page)
    assert "PAYERNAME" not in html(page)
    deposit = MpesaDeposit.objects.get()
    assert deposit.receipt_number not in html(page)  # the employer's M-Pesa receipt
    assert_no_phone_of(page, employer)


def test_the_employer_sees_every_receipt_but_no_payer_name(browser, paid_out, employer, worker):
    page = browser().login(employer).get(f"/jobs/{paid_out.pk}/")
    assert MobileMoneyPayout.objects.get().transaction_reference in text(page)
    assert MpesaDeposit.objects.get().receipt_number in text(page)
    assert "PAYERNAME" not in html(page)
    assert "2547 ***** 678" not in html(page)  # the masked MSISDN Safaricom sends


def test_a_worker_does_not_see_the_details_of_a_refund_to_the_employer(
    browser, story, employer, worker, arbiter
):
    job = story.disputed(employer, worker)

    with_capture = story._run
    with_capture(
        workflows.job_resolve,
        job_id=job.pk,
        arbiter=arbiter,
        to_employee=Decimal("1000"),
        to_employer=Decimal("500"),
    )
    shares = {p.recipient: p for p in MobileMoneyPayout.objects.all()}
    worker_page = browser().login(worker).get(f"/jobs/{job.pk}/")
    assert shares["employee"].transaction_reference in text(worker_page)
    assert shares["employer"].transaction_reference not in html(worker_page)
    assert_no_phone_of(worker_page, employer)
    employer_page = browser().login(employer).get(f"/jobs/{job.pk}/")
    assert shares["employee"].transaction_reference in text(employer_page)
    assert shares["employer"].transaction_reference in text(employer_page)


def test_staff_see_everything_but_only_arbiters_decide(
    browser, story, employer, worker, staff, arbiter
):
    job = story.disputed(employer, worker)
    page = browser().login(staff).get(f"/jobs/{job.pk}/")
    assert {"dispute", "live-status", "worker"} <= page_ids(page)
    assert "resolve-link" not in page_ids(page)
    assert "dispute-message-form" not in page_ids(page)
    page = browser().login(arbiter).get(f"/jobs/{job.pk}/")
    assert {"resolve-link", "dispute-message-form"} <= page_ids(page)
    assert Dispute.objects.get().resolved_at is None


def test_buttons_follow_the_role_and_the_state(browser, story, employer, worker):
    job = story.in_progress(employer, worker)
    employer_ids = page_ids(browser().login(employer).get(f"/jobs/{job.pk}/"))
    worker_ids = page_ids(browser().login(worker).get(f"/jobs/{job.pk}/"))
    assert {"complete-button", "dispute-form"} <= employer_ids
    assert not {"deliver-button", "apply-form", "cancel-button", "pay-form"} & employer_ids
    assert {"deliver-button", "dispute-form"} <= worker_ids
    assert not {"complete-button", "assign-button", "cancel-button"} & worker_ids
    assert story.refresh(job).status == JobStatus.IN_PROGRESS


@pytest.mark.parametrize("url", ["/", "/jobs/", "/jobs/?q=paint"])
def test_lists_show_no_phone_numbers_nor_references(web, story, employer, worker, url):
    job = story.applied(story.paid(story.posted(employer)), worker)
    page = web.get(url)
    assert "Paint a two-room house" in text(page)
    assert job.escrow.contract_id not in html(page)
    assert_no_phone_of(page, employer, worker)


def test_a_public_profile_shows_nothing_private(web, paid_out, employer, worker):
    employer.email = "wanjiku@example.com"
    employer.save()
    for person in (employer, worker):
        page = web.get(f"/u/{person.pk}/")
        assert person.get_full_name() in text(page)
        assert "1" in page.content.decode()  # jobs finished
        assert_no_phone_of(page, person)
    assert "wanjiku@example.com" not in html(web.get(f"/u/{employer.pk}/"))
    assert web.get("/u/999999/").status_code == 404


def test_my_page_shows_my_money_and_none_of_anyone_elses_numbers(
    browser, paid_out, employer, worker
):
    page = browser().login(worker).get("/me/")
    assert {"my-money", "my-jobs", "notifications", "pin-form"} <= page_ids(page)
    assert "KES 1,500.00" in text(page)
    assert_no_phone_of(page, employer)
    page = browser().login(employer).get("/me/")
    assert "Paint a two-room house" in text(page)
    assert_no_phone_of(page, worker)
