"""The whole escrow life through the pages, as a phone without JavaScript uses them: plain forms
posted with their CSRF token, a redirect after each, the money moved by the in-process sandbox
(M-Pesa's STK push, Pay Bill and B2C payouts) as each request commits."""

from decimal import Decimal

import pytest
from django.conf import settings

from escrow.models import Dispute, DisputeMessage, EscrowStatus
from jobs.models import JobApplication, JobListing, JobStatus, Rating
from mpesa.models import StkPushRequest
from payouts.models import MobileMoneyPayout, PayoutStatus
from tests.web.helpers import field_errors, form_errors, messages, page_ids, text


def job_url(job, action: str = "") -> str:
    return f"/jobs/{job.pk}/" + (f"{action}/" if action else "")


def test_employer_posts_pays_by_stk_push_and_the_worker_is_paid(
    web, browser, employer, worker, sms
):
    # The employer posts a job; the budget typed as people write it.
    web.login(employer)
    response = web.post(
        "/jobs/new/",
        {"title": "Paint a two-room house", "description": "Kasarani", "budget": "KES 1,500"},
    )
    job = JobListing.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    assert job.budget == Decimal("1500.00")
    page = web.get(job_url(job))
    assert "Pay KES 1,500.00 into escrow" in text(page)
    assert {"pay-form", "paybill-number", "account-number", "amount-owed"} <= page_ids(page)
    assert settings.MPESA_SHORTCODE in text(page)
    assert job.escrow.contract_id in text(page)

    # Pay with M-Pesa: the STK push to the phone the employer confirmed; the sandbox answers.
    response = web.post(job_url(job, "pay"), {"phone_number": "0712 345 678"}, follow=True)
    assert "We sent a payment request to 0712 345678." in messages(response)[0]
    prompt = StkPushRequest.objects.get()
    assert (prompt.phone_number, prompt.amount, prompt.status) == (
        "+254712345678",
        Decimal("1500.00"),
        "completed",
    )
    page = web.get(job_url(job))
    assert "Paid in full, held" in text(page)
    assert "pay-form" not in page_ids(page)  # nothing is owed any more
    assert "deposits" in page_ids(page)
    assert prompt.deposit.receipt_number in text(page)

    # A worker applies.
    otieno = browser().login(worker)
    response = otieno.post(job_url(job, "apply"), {"message": "I painted 20 houses."})
    assert response.status_code == 302
    assert JobApplication.objects.get().message == "I painted 20 houses."
    assert "my-application" in page_ids(otieno.get(job_url(job)))

    # The employer sees the applicant, with their rating, and chooses them.
    page = web.get(job_url(job))
    assert "Otieno Ouma" in text(page)
    assert "assign-button" in page_ids(page)
    response = web.post(job_url(job, "assign"), {"employee": worker.pk}, follow=True)
    assert "Worker chosen." in messages(response)[0]
    job.refresh_from_db()
    assert (job.status, job.employee_id) == (JobStatus.IN_PROGRESS, worker.pk)

    # The worker delivers; the employer completes; the money goes to the worker's phone.
    page = otieno.get(job_url(job))
    assert "deliver-button" in page_ids(page)
    assert otieno.post(job_url(job, "deliver")).status_code == 302
    page = web.get(job_url(job))
    assert "complete-button" in page_ids(page)
    assert "says the work is done" in text(page)
    assert web.post(job_url(job, "complete")).status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.escrow.status == EscrowStatus.RELEASED
    payout = MobileMoneyPayout.objects.get()
    assert (payout.status, payout.phone_number) == (PayoutStatus.COMPLETED, worker.phone_number)

    page = otieno.get(job_url(job))
    assert payout.transaction_reference in text(page)  # the worker's M-Pesa receipt
    assert [
        step
        for step in ("released",)
        if f'data-step="{step}" data-state="done"' in page.content.decode()
    ]
    me = otieno.get("/me/")
    assert "KES 1,500.00" in text(me)
    assert payout.transaction_reference in text(me)
    assert "Money sent to your M-Pesa" in text(me)  # the notification

    # Both rate each other, once.
    assert web.post(job_url(job, "rate"), {"score": 5, "comment": "Neat"}).status_code == 302
    assert otieno.post(job_url(job, "rate"), {"score": 4}).status_code == 302
    assert Rating.objects.count() == 2
    assert "my-rating" in page_ids(web.get(job_url(job)))
    assert "rate-form" not in page_ids(web.get(job_url(job)))


def test_pay_bill_instructions_work_and_the_page_follows_the_money(web, story, employer, worker):
    job = story.posted(employer)
    web.login(employer)
    page = web.get(job_url(job))
    assert 'data-moving="false"' in page.content.decode()
    story.paid(job, "1000")  # an underpayment: the rest is still owed
    page = web.get(job_url(job))
    assert "Pay KES 500.00 into escrow" in text(page)
    story.paid(job, "500")
    assert "pay" not in page_ids(web.get(job_url(job)))


def test_a_prompt_that_fails_says_why_in_the_employers_language(web, story, employer, daraja):
    daraja.faults.stk_result_code = 1032
    job = story.posted(employer)
    web.login(employer)
    web.post(job_url(job, "pay"), {"phone_number": "0712345678"})
    page = web.get(job_url(job))
    assert "The payment was cancelled on the phone." in text(page)
    assert "pay-form" in page_ids(page)  # try again


def test_pay_form_errors_appear_beside_the_phone_number(web, story, employer):
    job = story.posted(employer)
    web.login(employer)
    response = web.post(job_url(job, "pay"), {"phone_number": "12345"})
    assert response.status_code == 400
    assert field_errors(response, "phone_number") == [
        "Enter a Kenyan mobile number, like 0712 345 678."
    ]
    assert StkPushRequest.objects.count() == 0


def test_m_pesa_refusing_the_prompt_is_said_beside_the_phone_number(web, story, employer, daraja):
    daraja.faults.fail_requests = 5
    job = story.posted(employer)
    web.login(employer)
    response = web.post(job_url(job, "pay"), {"phone_number": "0712345678"})
    assert response.status_code in {502, 503}
    assert field_errors(response, "phone_number")[0].startswith("M-Pesa")


@pytest.mark.parametrize(
    ("budget", "error"),
    [
        ("1500.50", "M-Pesa moves whole shillings: give the amount without cents."),
        ("5", "A budget is from KES 10 to KES 10,000,000."),
        ("10000001", "A budget is from KES 10 to KES 10,000,000."),
        ("lots", "Enter an amount in shillings, like 1500."),
        ("", "This field is required."),
    ],
)
def test_posting_a_job_shows_errors_beside_the_field(web, employer, budget, error):
    web.login(employer)
    response = web.post("/jobs/new/", {"title": "Paint", "description": "D", "budget": budget})
    assert response.status_code == 400
    assert field_errors(response, "budget") == [error]
    assert JobListing.objects.count() == 0


def test_a_worker_cannot_post_a_job(web, worker):
    web.login(worker)
    response = web.get("/jobs/new/")
    assert response.status_code == 403
    assert "Only employers can post jobs." in text(response)
    assert (
        web.post("/jobs/new/", {"title": "T", "description": "D", "budget": "100"}).status_code
        == 403
    )
    assert JobListing.objects.count() == 0


def test_applying_twice_is_refused_atop_the_form(web, story, employer, worker):
    job = story.applied(story.posted(employer), worker)
    web.login(worker)
    response = web.post(job_url(job, "apply"), {"message": ""})
    assert response.status_code == 409
    assert form_errors(response) == ["You have already applied for this job."]


def test_only_the_employer_assigns_completes_cancels_and_prompts(
    web, story, employer, worker, other_worker
):
    job = story.applied(story.paid(story.posted(employer)), worker)
    web.login(other_worker)
    for action, data in [
        ("assign", {"employee": worker.pk}),
        ("complete", {}),
        ("cancel", {}),
        ("pay", {"phone_number": "0712345678"}),
    ]:
        response = web.post(job_url(job, action), data)
        assert response.status_code == 403, action
    assert story.refresh(job).status == JobStatus.OPEN


def test_an_employer_cancels_and_the_money_goes_back(web, story, employer):
    job = story.paid(story.posted(employer))
    web.login(employer)
    page = web.get(job_url(job))
    assert "KES 1,500.00 you paid is sent back" in text(page)
    response = web.post(job_url(job, "cancel"), follow=True)
    assert "The job is cancelled." in messages(response)[0]
    refund = MobileMoneyPayout.objects.get()
    assert (refund.kind, refund.status, refund.phone_number) == (
        "refund",
        PayoutStatus.COMPLETED,
        employer.phone_number,
    )
    page = web.get(job_url(job))
    assert refund.transaction_reference in text(page)
    assert "Refund of a cancelled job" in text(page)
    assert "KES 1,500.00" in text(web.get("/me/"))


def test_a_state_that_moved_on_is_said_plainly(web, story, employer, worker):
    job = story.completed(employer, worker)
    web.login(employer)
    response = web.post(job_url(job, "complete"), follow=True)
    assert messages(response) == [
        "That cannot be done now: the job has moved on. Here is where it stands."
    ]


def test_dispute_messages_and_an_arbiters_decision(web, browser, story, employer, worker, arbiter):
    job = story.in_progress(employer, worker)
    otieno = browser().login(worker)
    page = otieno.get(job_url(job))
    assert "dispute-form" in page_ids(page)
    response = otieno.post(job_url(job, "dispute"), {"reason": ""})
    assert response.status_code == 400
    assert field_errors(response, "reason") == ["This field is required."]
    response = otieno.post(job_url(job, "dispute"), {"reason": "Not paid for extra wall."})
    assert response.status_code == 302
    assert story.refresh(job).status == JobStatus.DISPUTED

    web.login(employer)
    page = web.get(job_url(job))
    assert "Not paid for extra wall." in text(page)
    assert web.post(job_url(job, "dispute/messages"), {"text": "Only one wall."}).status_code == 302
    assert "Only one wall." in text(otieno.get(job_url(job)))

    judge = browser().login(arbiter)
    queue = judge.get("/disputes/")
    dispute = Dispute.objects.get()
    assert f'data-dispute-id="{dispute.pk}"' in queue.content.decode()
    page = judge.get(f"/disputes/{dispute.pk}/")
    assert {"resolve-form", "dispute-messages"} <= page_ids(page)
    assert "Only one wall." in text(page)
    assert "Not paid for extra wall." in text(page)
    response = judge.post(f"/disputes/{dispute.pk}/notes/", {"text": "Send photos."})
    assert response.status_code == 302
    assert DisputeMessage.objects.filter(author=arbiter).count() == 1

    response = judge.post(
        f"/disputes/{dispute.pk}/", {"to_employee": "1000", "to_employer": "400", "note": ""}
    )
    assert response.status_code == 400
    assert form_errors(response)[0].startswith("The two shares must be zero or more and add up")
    response = judge.post(
        f"/disputes/{dispute.pk}/",
        {"to_employee": "1000", "to_employer": "500", "note": "Two walls of three."},
    )
    assert response.status_code == 302
    assert story.refresh(job).status == JobStatus.RESOLVED
    shares = {p.recipient: p for p in MobileMoneyPayout.objects.all()}
    assert shares["employee"].amount == Decimal("1000.00")
    assert shares["employer"].amount == Decimal("500.00")
    page = otieno.get(job_url(job))
    assert "resolution" in page_ids(page)
    assert shares["employee"].transaction_reference in text(page)
    assert shares["employer"].transaction_reference not in text(page)  # not the worker's


def test_staff_without_the_arbiter_permission_cannot_open_disputes(
    web, story, employer, worker, staff
):
    story.disputed(employer, worker)
    dispute = Dispute.objects.get()
    web.login(staff)
    assert web.get("/disputes/").status_code == 403
    assert web.get(f"/disputes/{dispute.pk}/").status_code == 403
    response = web.post(f"/disputes/{dispute.pk}/", {"to_employee": "1500", "to_employer": "0"})
    assert response.status_code == 403
    assert Dispute.objects.get().resolved_at is None


def test_anonymous_is_sent_to_log_in_and_back(web, story, employer):
    job = story.posted(employer)
    for url in ["/me/", "/jobs/new/", "/disputes/"]:
        response = web.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    response = web.post(job_url(job, "apply"), {"message": ""})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
