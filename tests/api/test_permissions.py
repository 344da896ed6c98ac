"""Who may do what: every actor against every endpoint. Not visible: 404; visible but not
yours or not your role: 403; and a refused request changes nothing."""

import pytest

from jobs.models import JobListing
from tests.api.helpers import apply_and_assign, pay, post_job, row_counts
from tests.factories import EmployeeFactory, EmployerFactory

ACTORS = ["anonymous", "owner", "other_employer", "applicant", "other_employee", "staff"]

ENDPOINTS = {
    "list": ("get", "/api/jobs/", None),
    "create": ("post", "/api/jobs/", {"title": "T", "description": "D", "budget": "100.00"}),
    "detail": ("get", "/api/jobs/{id}/", None),
    "edit": ("patch", "/api/jobs/{id}/", {"title": "Renamed"}),
    "apply": ("post", "/api/jobs/{id}/apply/", {}),
    "applications": ("get", "/api/jobs/{id}/applications/", None),
    "complete": ("post", "/api/jobs/{id}/complete/", None),
    "cancel": ("post", "/api/jobs/{id}/cancel/", None),
}

# An open, funded job with one application (by "applicant").
OPEN_JOB = {
    "list": [401, 200, 200, 200, 200, 200],
    "create": [401, 201, 201, 403, 403, 201],
    "detail": [401, 200, 404, 200, 200, 200],
    "edit": [401, 200, 404, 403, 403, 403],
    "apply": [401, 403, 404, 409, 201, 403],
    "applications": [401, 200, 404, 403, 403, 403],
    "complete": [401, 409, 404, 403, 403, 403],
    "cancel": [401, 200, 404, 403, 403, 403],
}
# The same job once "applicant" is assigned: others' employees no longer see it. Staff (an
# employer here) read every job to arbitrate disputes, but change only what their role allows.
ASSIGNED_JOB = {
    "list": [401, 200, 200, 200, 200, 200],
    "create": [401, 201, 201, 403, 403, 201],
    "detail": [401, 200, 404, 200, 404, 200],
    "edit": [401, 409, 404, 403, 404, 403],
    "apply": [401, 403, 404, 409, 404, 403],
    "applications": [401, 200, 404, 403, 404, 403],
    "complete": [401, 200, 404, 403, 404, 403],
    "cancel": [401, 409, 404, 403, 404, 403],
}


def cases(table):
    for endpoint, codes in table.items():
        for actor, code in zip(ACTORS, codes, strict=True):
            yield pytest.param(endpoint, actor, code, id=f"{endpoint}-{actor}-{code}")


@pytest.fixture
def world(api):
    people = {
        "owner": EmployerFactory(),
        "other_employer": EmployerFactory(),
        "applicant": EmployeeFactory(),
        "other_employee": EmployeeFactory(),
        "staff": EmployerFactory(is_staff=True),
    }
    job = post_job(api, people["owner"])
    pay(api, job)
    assert api.as_user(people["applicant"]).post(f"/api/jobs/{job['id']}/apply/").status_code == 201
    return people, job


def call(api, people, job, endpoint, actor):
    method, url, body = ENDPOINTS[endpoint]
    client = api.anonymous() if actor == "anonymous" else api.as_user(people[actor])
    return getattr(client, method)(url.format(id=job["id"]), body)


def job_state(job_id):
    return JobListing.objects.filter(pk=job_id).values().get()


@pytest.mark.parametrize(("endpoint", "actor", "expected"), list(cases(OPEN_JOB)))
def test_open_job(api, world, endpoint, actor, expected):
    people, job = world
    before = (row_counts(), job_state(job["id"]))
    response = call(api, people, job, endpoint, actor)
    assert response.status_code == expected, response.content
    assert isinstance(response.json(), dict | list)
    if expected >= 400:
        assert (row_counts(), job_state(job["id"])) == before


@pytest.mark.parametrize(("endpoint", "actor", "expected"), list(cases(ASSIGNED_JOB)))
def test_assigned_job(api, world, endpoint, actor, expected):
    people, job = world
    response = api.as_user(people["owner"]).patch(
        f"/api/jobs/{job['id']}/", {"employee": people["applicant"].pk}
    )
    assert response.json()["status"] == "in_progress"
    before = (row_counts(), job_state(job["id"]))
    response = call(api, people, job, endpoint, actor)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert (row_counts(), job_state(job["id"])) == before


def ids(response):
    return {job["id"] for job in response.json()["results"]}


def test_lists_show_each_user_only_their_jobs(api):
    alice, bob = EmployerFactory(), EmployerFactory()
    worker, stranger = EmployeeFactory(), EmployeeFactory()
    alices_open = post_job(api, alice)
    alices_assigned = post_job(api, alice)
    apply_and_assign(api, alice, worker, alices_assigned)
    bobs_applied = post_job(api, bob)
    api.as_user(stranger).post(f"/api/jobs/{bobs_applied['id']}/apply/")
    bob_other = post_job(api, bob)

    assert ids(api.as_user(alice).get("/api/jobs/")) == {alices_open["id"], alices_assigned["id"]}
    assert ids(api.as_user(bob).get("/api/jobs/")) == {bobs_applied["id"], bob_other["id"]}
    open_ids = {alices_open["id"], bobs_applied["id"], bob_other["id"]}
    assert ids(api.as_user(worker).get("/api/jobs/")) == open_ids | {alices_assigned["id"]}
    assert ids(api.as_user(stranger).get("/api/jobs/")) == open_ids


def test_lists_are_paginated_and_filter_by_status(api, employer, employee):
    jobs = [post_job(api, employer, "100.00") for _ in range(22)]
    apply_and_assign(api, employer, employee, jobs[0])

    first = api.as_user(employer).get("/api/jobs/").json()
    assert first["count"] == 22
    assert len(first["results"]) == 20
    assert first["next"]
    second = api.get("/api/jobs/", {"page": 2}).json()
    assert len(second["results"]) == 2

    assigned = api.get("/api/jobs/", {"status": "assigned"}).json()
    assert [job["id"] for job in assigned["results"]] == [jobs[0]["id"]]
    assert api.get("/api/jobs/", {"status": "open"}).json()["count"] == 21


def test_an_unknown_status_filter_is_a_400(api, employer):
    response = api.as_user(employer).get("/api/jobs/", {"status": "paid"})
    assert response.status_code == 400
    assert "status" in response.json()
