"""/me/: a person's jobs, money, notifications and rating, and the USSD PIN reset; and every page
for each role."""

import re

import pytest

from accounts import pins
from escrow import workflows
from escrow.models import Dispute
from tests.web.helpers import field_errors, messages, page_ids, text


def code_sent_to(sms, user) -> str:
    texts = [message for phone, message in sms.sent if phone == user.phone_number]
    return re.search(r"\b(\d{6})\b", texts[-1])[1]


def test_a_forgotten_ussd_pin_is_replaced_with_a_code_by_sms(web, worker, sms):
    web.login(worker)
    response = web.post("/me/pin/code/", follow=True)
    assert "We sent a 6-digit code by SMS to 0722 000111." in messages(response)[0]
    code = code_sent_to(sms, worker)
    response = web.post("/me/pin/", {"code": code, "pin": "4321", "pin_again": "4321"}, follow=True)
    assert "Your USSD PIN is changed." in messages(response)[0]
    worker.refresh_from_db()
    assert worker.check_ussd_pin("4321")


PIN = {"code": "123456", "pin": "4321", "pin_again": "4321"}
WRONG_CODE = "This code is wrong or has expired. Ask for a new one."


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"code": "12"}, "code", "The code is the 6 digits we sent by SMS."),
        ({"pin": "43", "pin_again": "43"}, "pin", "A PIN is 4 digits."),
        ({"pin_again": "1234"}, "pin_again", "The two PINs are not the same."),
        ({"code": "000000"}, "code", WRONG_CODE),
    ],
)
def test_pin_reset_errors_appear_beside_the_field(web, worker, sms, change, field, error):
    web.login(worker)
    web.post("/me/pin/code/")
    form = {**PIN, **change}
    if form["code"] == code_sent_to(sms, worker):
        form["code"] = "111111" if form["code"] != "111111" else "222222"
    response = web.post("/me/pin/", form)
    assert response.status_code == 400
    assert field_errors(response, field) == [error]
    worker.refresh_from_db()
    assert not worker.check_ussd_pin("4321")


def test_a_code_is_good_for_three_tries_only(web, worker, sms):
    web.login(worker)
    web.post("/me/pin/code/")
    code = code_sent_to(sms, worker)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(pins.MAX_ATTEMPTS):
        web.post("/me/pin/", {"code": wrong, "pin": "4321", "pin_again": "4321"})
    response = web.post("/me/pin/", {"code": code, "pin": "4321", "pin_again": "4321"})
    assert response.status_code == 400
    worker.refresh_from_db()
    assert not worker.check_ussd_pin("4321")


def test_my_page_groups_my_jobs_by_what_they_wait_for(web, story, employer, worker):
    story.posted(employer, title="Fix a tap")
    delivered = story.delivered(employer, worker)
    page = web.login(employer).get("/me/")
    body = page.content.decode()
    assert body.index('data-group="check"') < body.index('data-group="open"')
    assert f'data-job-id="{delivered.pk}"' in body
    assert "Held in escrow for my jobs" in text(page)
    assert "KES 1,500.00" in text(page)
    page = web.logout().login(worker).get("/me/")
    assert 'data-group="waiting"' in page.content.decode()
    assert "held-for-me" in page_ids(page)
    assert "You got the job" in text(page)  # the notification


ROLES = [
    "anonymous",
    "owner",
    "other_employer",
    "worker",
    "applicant",
    "stranger",
    "staff",
    "arbiter",
]
# page -> the status each role gets (a redirect to log in is 302)
EXPECTED = {
    "/": dict.fromkeys(ROLES, 200),
    "/jobs/": dict.fromkeys(ROLES, 200),
    "/jobs/new/": {"anonymous": 302, "owner": 200, "other_employer": 200, "worker": 403,
                   "applicant": 403, "stranger": 403, "staff": 200, "arbiter": 200},
    "open job": dict.fromkeys(ROLES, 200),
    "disputed job": {"anonymous": 404, "owner": 200, "other_employer": 404, "worker": 200,
                     "applicant": 200, "stranger": 404, "staff": 200, "arbiter": 200},
    "/me/": {**dict.fromkeys(ROLES, 200), "anonymous": 302},
    "profile": dict.fromkeys(ROLES, 200),
    "proof": dict.fromkeys(ROLES, 200),
    "/disputes/": {**dict.fromkeys(ROLES, 403), "anonymous": 302, "arbiter": 200},
    "dispute": {**dict.fromkeys(ROLES, 403), "anonymous": 302, "arbiter": 200},
}  # fmt: skip


def test_every_page_for_every_role(browser, story, employer, worker, other_worker, arbiter, staff):
    from tests.factories import EmployeeFactory, EmployerFactory

    applicant = EmployeeFactory()
    open_job = story.applied(story.posted(employer, title="Open one"), applicant)
    disputed = story.posted(employer)
    story.applied(disputed, applicant)
    disputed = story.assigned(story.paid(disputed), worker)
    story._run(
        workflows.job_dispute,
        job_id=disputed.pk,
        user=employer,
        reason="Not done",
    )
    dispute = Dispute.objects.get()
    users = {
        "anonymous": None,
        "owner": employer,
        "other_employer": EmployerFactory(),
        "worker": worker,
        "applicant": applicant,
        "stranger": other_worker,
        "staff": staff,
        "arbiter": arbiter,
    }
    urls = {
        "open job": f"/jobs/{open_job.pk}/",
        "disputed job": f"/jobs/{disputed.pk}/",
        "profile": f"/u/{employer.pk}/",
        "proof": f"/e/{disputed.escrow.contract_id}/",
        "dispute": f"/disputes/{dispute.pk}/",
    }
    got = {}
    for role, user in users.items():
        web = browser().login(user) if user else browser()
        for page in EXPECTED:
            got.setdefault(page, {})[role] = web.get(urls.get(page, page)).status_code
    assert got == EXPECTED
