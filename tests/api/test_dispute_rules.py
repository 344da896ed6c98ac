"""Issue 12's rules over HTTP: who may deliver, dispute, resolve and rate, and when. Every refusal
is a 4xx with a JSON body and writes nothing (MONEY-SAFETY P11, P13, P14): the rows of every
model the escrow's life touches are counted before and after."""

from datetime import timedelta

import pytest

from escrow.models import Dispute
from jobs.models import JobListing
from tests.api.escrow_life import (
    b2c_to,
    cancel,
    complete,
    deliver,
    delivered_job,
    detail,
    dispute,
    disputed_job,
    in_progress_job,
    move_deadline,
    rate,
    resolve,
    row_counts,
    run_sweep,
    url,
)
from tests.api.helpers import apply_and_assign, pay, post_job
from tests.factories import ArbiterFactory, EmployeeFactory, EmployerFactory


def state(job: dict) -> tuple:
    row = JobListing.objects.select_related("escrow").get(pk=job["id"])
    return row.status, row.escrow.status, row.escrow.released_amount, row.escrow.refunded_amount


def assert_refused(response, status: int, before: dict, job: dict | None = None, was=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body, "an error says what is wrong"
    if status != 400:
        assert set(body) >= {"detail"}
    assert row_counts() == before
    if job is not None:
        assert state(job) == was


def refused(api, call, status: int, job: dict | None = None):
    """Make the request, and check it was refused with `status` and changed nothing."""
    before, was = row_counts(), state(job) if job else None
    response = call()
    assert_refused(response, status, before, job, was)
    return response.json()


# --- dispute ----------------------------------------------------------------------------


def test_a_job_whose_escrow_holds_nothing_cannot_be_disputed(api, employer, employee):
    job = post_job(api, employer)
    apply_and_assign(api, employer, employee, job)  # assigned, nothing paid
    for party in (employer, employee):
        body = refused(api, lambda p=party: dispute(api, p, job), 409, job)
        assert "KES 0.00" in body["detail"]


def test_a_part_paid_escrow_cannot_be_disputed_it_can_be_cancelled(api, employer, employee):
    job = post_job(api, employer)
    pay(api, job, "500.00")
    apply_and_assign(api, employer, employee, job)
    refused(api, lambda: dispute(api, employee, job), 409, job)
    assert cancel(api, employer, job).status_code == 200


def test_a_funded_job_with_no_worker_yet_has_nobody_to_dispute_with(api, employer):
    """The employer of a paid, open job may cancel it (a refund); a dispute is a state conflict,
    not a question of who they are."""
    job = post_job(api, employer)
    pay(api, job)
    refused(api, lambda: dispute(api, employer, job), 409, job)


@pytest.mark.parametrize("ended", ["released", "refunded", "resolved"])
def test_an_escrow_that_has_ended_cannot_be_disputed(api, employer, employee, ended):
    job = in_progress_job(api, employer, employee)
    if ended == "released":
        assert complete(api, employer, job).status_code == 200
    elif ended == "refunded":
        job = post_job(api, employer)
        pay(api, job, "700.00")
        apply_and_assign(api, employer, employee, job)
        assert cancel(api, employer, job).status_code == 200
    else:
        assert dispute(api, employee, job).status_code == 200
        assert resolve(api, ArbiterFactory(), job, "750.00", "750.00").status_code == 200
    assert detail(api, employer, job)["escrow"]["status"] == ended
    for party in (employer, employee):
        refused(api, lambda p=party: dispute(api, p, job), 409, job)


def test_a_dispute_cannot_be_raised_twice(api, employer, employee):
    job = disputed_job(api, employer, employee, by=employer)
    for party in (employer, employee):
        refused(api, lambda p=party: dispute(api, p, job, "Again"), 409, job)
    assert Dispute.objects.count() == 1


@pytest.mark.parametrize(
    ("stranger", "status"),
    [
        ("other_employer", 404),  # cannot see the job
        ("other_employee", 404),
        ("applicant", 403),  # applied, was not chosen: sees the job, is no party to it
        ("staff", 403),  # reads every job, is no party to it
        ("arbiter", 403),  # decides disputes, does not raise them
    ],
)
def test_only_the_two_parties_can_dispute(api, employer, employee, stranger, status):
    job = post_job(api, employer)
    pay(api, job)
    applicant = EmployeeFactory()
    assert api.as_user(applicant).post(url(job, "apply"), {}).status_code == 201
    apply_and_assign(api, employer, employee, job)
    who = {
        "other_employer": EmployerFactory(),
        "other_employee": EmployeeFactory(),
        "applicant": applicant,
        "staff": EmployerFactory(is_staff=True),
        "arbiter": ArbiterFactory(),
    }[stranger]
    refused(api, lambda: dispute(api, who, job), status, job)
    refused(api, lambda: api.anonymous().post(url(job, "dispute"), {"reason": "x"}), 401, job)


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "x" * 2001}, {"reason": None}, {"reason": "ok", "amount": "1"}],
)
def test_a_dispute_needs_a_reason(api, employer, employee, body):
    job = in_progress_job(api, employer, employee)
    response = refused(api, lambda: api.as_user(employee).post(url(job, "dispute"), body), 400, job)
    assert response


def test_either_party_and_arbiters_argue_in_the_dispute_strangers_do_not(api, employer, employee):
    job = in_progress_job(api, employer, employee)
    say = "/dispute/messages/"
    refused(api, lambda: api.as_user(employer).post(url(job) + say[1:], {"text": "x"}), 409, job)
    assert dispute(api, employer, job).status_code == 200
    arbiter = ArbiterFactory()
    for author, text in ((employee, "Both rooms are done."), (arbiter, "Photos, please.")):
        response = api.as_user(author).post(url(job) + say[1:], {"text": text})
        assert response.status_code == 201, response.content
    refused(
        api,
        lambda: api.as_user(EmployerFactory(is_staff=True)).post(url(job) + say[1:], {"text": "x"}),
        403,
        job,
    )
    refused(api, lambda: api.as_user(employee).post(url(job) + say[1:], {"text": ""}), 400, job)
    messages = detail(api, employer, job)["dispute"]["messages"]
    assert [m["text"] for m in messages] == ["Both rooms are done.", "Photos, please."]
    assert resolve(api, arbiter, job, "1500.00", "0.00").status_code == 200
    refused(api, lambda: api.as_user(employer).post(url(job) + say[1:], {"text": "x"}), 409, job)


# --- resolve ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to_employee", "to_employer"),
    [
        ("750.005", "749.995"),  # 3 decimal places
        ("750.001", "750.00"),
        ("-100.00", "1600.00"),  # negative
        ("1600.00", "-100.00"),
        ("750.00", "750.01"),  # a cent more than held
        ("750.00", "749.99"),  # a cent less
        ("1000.00", "1000.00"),
        ("0.00", "0.00"),
        ("lots", "0.00"),
        ("", "1500.00"),
        ("NaN", "1500.00"),
        ("Infinity", "0.00"),
    ],
)
def test_shares_must_be_cents_zero_or_more_and_add_up_to_what_is_held(
    api, employer, employee, to_employee, to_employer
):
    job = disputed_job(api, employer, employee)
    arbiter = ArbiterFactory()
    refused(api, lambda: resolve(api, arbiter, job, to_employee, to_employer), 400, job)


@pytest.mark.parametrize(
    "body",
    [{}, {"to_employee": "1500.00"}, {"to_employer": "1500.00"}, {"to_employee": None}],
)
def test_both_shares_are_required(api, employer, employee, body):
    job = disputed_job(api, employer, employee)
    refused(api, lambda: api.as_user(ArbiterFactory()).post(url(job, "resolve"), body), 400, job)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("employer", 403),
        ("worker", 403),
        ("staff", 403),  # staff without the arbiter permission
        ("not_staff_with_the_permission", 404),  # an employer who cannot even see the job
    ],
)
def test_only_arbiters_resolve(api, employer, employee, who, status):
    job = disputed_job(api, employer, employee)
    resolver = {
        "employer": employer,
        "worker": employee,
        "staff": EmployerFactory(is_staff=True),
        "not_staff_with_the_permission": ArbiterFactory(is_staff=False),
    }[who]
    refused(api, lambda: resolve(api, resolver, job, "750.00", "750.00"), status, job)
    refused(
        api,
        lambda: api.anonymous().post(
            url(job, "resolve"), {"to_employee": "750.00", "to_employer": "750.00"}
        ),
        401,
        job,
    )


def test_only_a_disputed_job_is_resolved_and_only_once(api, employer, employee, daraja):
    job = in_progress_job(api, employer, employee)
    arbiter = ArbiterFactory()
    refused(api, lambda: resolve(api, arbiter, job, "750.00", "750.00"), 409, job)
    assert dispute(api, employee, job).status_code == 200
    assert resolve(api, arbiter, job, "750.00", "750.00").status_code == 200
    refused(api, lambda: resolve(api, arbiter, job, "750.00", "750.00"), 409, job)
    refused(api, lambda: resolve(api, ArbiterFactory(), job, "1500.00", "0.00"), 409, job)
    assert len(b2c_to(daraja)) == 2


# --- nothing moves a disputed escrow but a resolution -----------------------------------


def test_release_cancel_and_delivery_are_refused_while_disputed(api, employer, employee, daraja):
    job = disputed_job(api, employer, employee)
    refused(api, lambda: complete(api, employer, job), 409, job)
    refused(api, lambda: cancel(api, employer, job), 409, job)
    refused(api, lambda: deliver(api, employee, job), 409, job)
    assert b2c_to(daraja) == []


def test_auto_release_does_not_touch_a_disputed_job(
    api, employer, employee, daraja, ledger, django_capture_on_commit_callbacks
):
    job = delivered_job(api, employer, employee)
    assert dispute(api, employer, job).status_code == 200
    move_deadline(job, -timedelta(days=1))
    before, was = row_counts(), state(job)
    assert run_sweep(django_capture_on_commit_callbacks) == 0
    assert (row_counts(), state(job)) == (before, was)
    assert "release" not in [op for op, _ in ledger.calls]
    assert b2c_to(daraja) == []


# --- deliver ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("employer", 403), ("applicant", 403), ("other_employee", 404), ("staff", 403)],
)
def test_only_the_assigned_worker_delivers(api, employer, employee, who, status):
    job = post_job(api, employer)
    pay(api, job)
    applicant = EmployeeFactory()
    assert api.as_user(applicant).post(url(job, "apply"), {}).status_code == 201
    apply_and_assign(api, employer, employee, job)
    user = {
        "employer": employer,
        "applicant": applicant,
        "other_employee": EmployeeFactory(),
        "staff": EmployerFactory(is_staff=True),
    }[who]
    refused(api, lambda: deliver(api, user, job), status, job)
    refused(api, lambda: api.anonymous().post(url(job, "deliver")), 401, job)


@pytest.mark.parametrize("when", ["assigned_unpaid", "delivered", "completed", "cancelled"])
def test_work_is_delivered_only_while_in_progress(api, employer, employee, when):
    if when == "assigned_unpaid":
        job = post_job(api, employer)
        apply_and_assign(api, employer, employee, job)
    elif when == "cancelled":
        job = post_job(api, employer)
        apply_and_assign(api, employer, employee, job)
        assert cancel(api, employer, job).status_code == 200
    else:
        job = delivered_job(api, employer, employee)
        if when == "completed":
            assert complete(api, employer, job).status_code == 200
    refused(api, lambda: deliver(api, employee, job), 409, job)


def test_delivery_starts_the_window_and_the_employer_may_still_complete(
    api, employer, employee, settings, daraja
):
    job = in_progress_job(api, employer, employee)
    delivered = deliver(api, employee, job).json()
    assert delivered["status"] == "delivered"
    row = JobListing.objects.get(pk=job["id"])
    assert row.auto_release_at - row.delivered_at == settings.AUTO_RELEASE_AFTER
    assert complete(api, employer, job).status_code == 200
    assert detail(api, employer, job)["payout"]["status"] == "completed"
    assert len(b2c_to(daraja)) == 1


# --- ratings and the public profile -----------------------------------------------------


@pytest.mark.parametrize("when", ["in_progress", "delivered", "disputed", "cancelled"])
def test_rating_waits_until_the_job_ended_with_money_paid(api, employer, employee, when):
    if when == "cancelled":
        job = post_job(api, employer)
        apply_and_assign(api, employer, employee, job)
        assert cancel(api, employer, job).status_code == 200
    else:
        job = in_progress_job(api, employer, employee)
        if when == "delivered":
            assert deliver(api, employee, job).status_code == 200
        if when == "disputed":
            assert dispute(api, employee, job).status_code == 200
    for party in (employer, employee):
        refused(api, lambda p=party: rate(api, p, job), 409, job)


@pytest.mark.parametrize("ending", ["completed", "resolved"])
def test_each_side_rates_the_other_once(api, employer, employee, ending):
    job = in_progress_job(api, employer, employee)
    if ending == "completed":
        assert complete(api, employer, job).status_code == 200
    else:
        assert dispute(api, employer, job).status_code == 200
        assert resolve(api, ArbiterFactory(), job, "500.00", "1000.00").status_code == 200

    by_employer = rate(api, employer, job, 4, "Good, a bit late.")
    assert by_employer.status_code == 201, by_employer.content
    assert (by_employer.json()["ratee"]["id"], by_employer.json()["score"]) == (employee.pk, 4)
    by_worker = rate(api, employee, job, 5)
    assert by_worker.status_code == 201
    assert by_worker.json()["ratee"]["id"] == employer.pk
    for party in (employer, employee):
        refused(api, lambda p=party: rate(api, p, job, 1), 409, job)


@pytest.mark.parametrize(
    ("who", "status"),
    [("applicant", 403), ("staff", 403), ("arbiter", 403), ("other_employer", 404)],
)
def test_only_the_two_parties_rate(api, employer, employee, who, status):
    job = post_job(api, employer)
    pay(api, job)
    applicant = EmployeeFactory()
    assert api.as_user(applicant).post(url(job, "apply"), {}).status_code == 201
    apply_and_assign(api, employer, employee, job)
    assert complete(api, employer, job).status_code == 200
    user = {
        "applicant": applicant,
        "staff": EmployerFactory(is_staff=True),
        "arbiter": ArbiterFactory(),
        "other_employer": EmployerFactory(),
    }[who]
    refused(api, lambda: rate(api, user, job), status, job)


@pytest.mark.parametrize(
    "body", [{"score": 0}, {"score": 6}, {"score": "five"}, {}, {"score": 5, "ratee": 1}]
)
def test_a_rating_is_a_score_from_1_to_5(api, employer, employee, body):
    job = in_progress_job(api, employer, employee)
    assert complete(api, employer, job).status_code == 200
    refused(api, lambda: api.as_user(employer).post(url(job, "rating"), body), 400, job)


PROFILE_KEYS = {
    "id",
    "name",
    "user_type",
    "rating_average",
    "ratings_count",
    "jobs_completed",
    "date_joined",
}


def test_the_public_profile_shows_the_record_and_nothing_private(api, employee):
    employee.email = "worker@example.com"
    employee.save()
    jobs_done = []
    for n, score in enumerate([5, 4]):
        boss = EmployerFactory()
        job = in_progress_job(api, boss, employee)
        if n == 0:
            assert complete(api, boss, job).status_code == 200
        else:
            assert dispute(api, boss, job).status_code == 200
            assert resolve(api, ArbiterFactory(), job, "1000.00", "500.00").status_code == 200
        assert rate(api, boss, job, score).status_code == 201
        jobs_done.append(job)
    disputed_job(api, EmployerFactory(), employee)  # not finished: not counted

    response = api.anonymous().get(f"/api/users/{employee.pk}/")
    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == PROFILE_KEYS
    assert profile["name"] == employee.get_full_name()
    assert profile["user_type"] == "employee"
    assert (profile["rating_average"], profile["ratings_count"]) == ("4.50", 2)
    assert profile["jobs_completed"] == 2
    text = response.content.decode()
    for private in (employee.phone_number, employee.phone_number[1:], "worker@example.com"):
        assert private not in text


def test_a_profile_with_no_ratings_and_unknown_users(api, employer):
    profile = api.anonymous().get(f"/api/users/{employer.pk}/").json()
    assert (profile["rating_average"], profile["ratings_count"], profile["jobs_completed"]) == (
        None,
        0,
        0,
    )
    assert api.anonymous().get("/api/users/999999/").status_code == 404
    employer.is_active = False
    employer.save()
    assert api.anonymous().get(f"/api/users/{employer.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("to_employee", "to_employer"),
    [
        ("900.50", "599.50"),  # M-Pesa pays whole shillings: neither share could ever be sent
        ("1499.99", "0.01"),
        ("5.00", "1495.00"),  # M-Pesa pays at least KES 10
        ("1491.00", "9.00"),
    ],
)
def test_shares_are_what_m_pesa_can_pay(api, employer, employee, daraja, to_employee, to_employer):
    """A split the payout rail can never carry out would leave money owed and stuck (P12): it is
    refused up front, as budgets with cents are."""
    job = disputed_job(api, employer, employee)
    body = refused(
        api, lambda: resolve(api, ArbiterFactory(), job, to_employee, to_employer), 400, job
    )
    assert body["code"] == "invalid_split"
    assert b2c_to(daraja) == []


def test_a_legacy_escrow_with_cents_can_still_be_split(api, employer, employee):
    """Jobs from before whole-shilling budgets hold cents; their split must add up to them."""
    from tests.api.helpers import legacy_job

    job = legacy_job(api, employer, "1500.50")
    pay(api, job, "1500.50")
    apply_and_assign(api, employer, employee, job)
    assert dispute(api, employee, job).status_code == 200
    assert resolve(api, ArbiterFactory(), job, "1000.00", "500.50").status_code == 200
    payouts = {p["recipient"]: p for p in detail(api, employer, job)["payouts"]}
    assert payouts["employee"]["status"] == "completed"
    assert payouts["employer"]["status"] == "failed"  # cents: left for an operator, as before
