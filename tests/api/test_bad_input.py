"""P11: bad input gets a 4xx JSON error naming the problem and writes nothing; never a 500."""

import pytest

from escrow.models import LedgerOperation
from payouts.models import MobileMoneyPayout
from tests.api.helpers import (
    CALLBACK,
    apply_and_assign,
    in_progress_job,
    pay,
    post_job,
    row_counts,
)
from tests.factories import EmployeeFactory


def job_body(**changes):
    return {"title": "Paint", "description": "Two rooms", "budget": "1500.00", **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"budget": "-1.00"}, "budget"),
        ({"budget": "0"}, "budget"),
        ({"budget": "9.99"}, "budget"),
        ({"budget": "100.005"}, "budget"),
        ({"budget": "1500.50"}, "budget"),  # M-Pesa moves whole shillings only
        ({"budget": "10000000.01"}, "budget"),
        ({"budget": "1e30"}, "budget"),
        ({"budget": "abc"}, "budget"),
        ({"budget": "NaN"}, "budget"),
        ({"budget": None}, "budget"),
        ({"budget": [1500]}, "budget"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": {"en": "Paint"}}, "title"),
        ({"description": None}, "description"),
        ({"status": "completed"}, "status"),
        ({"employee": 5}, "employee"),
    ],
)
def test_create_refuses_bad_fields(api, employer, changes, field):
    before = row_counts()
    response = api.as_user(employer).post("/api/jobs/", job_body(**changes))
    assert response.status_code == 400
    assert field in response.json()
    assert row_counts() == before


@pytest.mark.parametrize("missing", ["title", "description", "budget"])
def test_create_names_missing_fields(api, employer, missing):
    body = job_body()
    del body[missing]
    response = api.as_user(employer).post("/api/jobs/", body)
    assert response.status_code == 400
    assert response.json()[missing] == ["This field is required."]


def test_budget_edges_are_accepted(api, employer):
    for budget in ("10.00", "10000000.00", "2500", 2500):
        assert api.as_user(employer).post("/api/jobs/", job_body(budget=budget)).status_code == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"employee": 1, "title": "x"}, 400),
        ({"budget": "-5"}, 400),
        ({"employee": "seven"}, 400),
        ({"employee": 0}, 400),
        ({"employee": 2**70}, 400),
        ({"employee": 999999}, 400),
        ({"nonsense": 1}, 400),
    ],
)
def test_patch_refuses_bad_changes(api, employer, body, status):
    job = post_job(api, employer)
    before = row_counts()
    response = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", body)
    assert response.status_code == status
    assert response.json()
    assert row_counts() == before


def test_only_an_applicant_who_is_an_employee_can_be_assigned(api, employer, employee):
    job = post_job(api, employer)
    for candidate in (employer.pk, employee.pk):  # an employer; an employee who did not apply
        response = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", {"employee": candidate})
        assert response.status_code == 400
    assert api.get(f"/api/jobs/{job['id']}/").json()["status"] == "open"


def test_state_conflicts_are_409s_that_change_nothing(api, employer, employee):
    job = post_job(api, employer)
    pay(api, job, "100.00")
    response = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", {"budget": "2000.00"})
    assert response.status_code == 409
    assert api.get(f"/api/jobs/{job['id']}/").json()["budget"] == "1500.00"

    apply_and_assign(api, employer, employee, job)
    for body in ({"title": "New"}, {"employee": employee.pk}):
        assert api.as_user(employer).patch(f"/api/jobs/{job['id']}/", body).status_code == 409
    other = EmployeeFactory()
    assert api.as_user(other).post(f"/api/jobs/{job['id']}/apply/").status_code == 404


def test_budget_can_change_before_any_deposit(api, employer):
    job = post_job(api, employer)
    response = api.as_user(employer).patch(f"/api/jobs/{job['id']}/", {"budget": "2000.00"})
    assert response.status_code == 200
    assert response.json()["escrow"]["amount"] == "2000.00"
    assert response.json()["deposit_instructions"]["amount"] == "2000.00"


def test_applying_twice_is_a_409(api, employer, employee):
    job = post_job(api, employer)
    assert api.as_user(employee).post(f"/api/jobs/{job['id']}/apply/").status_code == 201
    second = api.post(f"/api/jobs/{job['id']}/apply/", {"message": "again"})
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"


@pytest.mark.parametrize("step", ["unfunded", "unassigned", "twice"])
def test_complete_only_work_in_progress(api, employer, employee, step):
    if step == "twice":
        job = in_progress_job(api, employer, employee)
        assert api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    else:
        job = post_job(api, employer)
        if step == "unassigned":
            pay(api, job)
        else:
            apply_and_assign(api, employer, employee, job)
    before = row_counts()
    response = api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/")
    assert response.status_code == 409
    assert "in progress" in response.json()["detail"]
    assert row_counts() == before
    assert LedgerOperation.objects.filter(kind="release").count() == (step == "twice")
    assert MobileMoneyPayout.objects.count() == (step == "twice")


GARBAGE = [
    "[]",
    "[1, 2]",
    '"text"',
    "null",
    "42",
    "{",
    '{"title": {"nested": [1, {"x": null}]}}',
    '{"budget": 1e400}',
    '{"title": "' + "x" * 100_000 + '"}',
    '{"phone_number": 712345678, "password": 1}',
    '{"employee": true}',
    '{"message": ["a"]}',
    '{"TransAmount": {"$gt": 0}}',
    "\x00\x01",
]


@pytest.mark.parametrize("body", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_never_causes_a_500(api, employer, employee, body):
    job = post_job(api, employer)
    urls = [
        ("post", "/api/auth/register/", None),
        ("post", "/api/auth/login/", None),
        ("post", "/api/auth/refresh/", None),
        ("post", "/api/jobs/", employer),
        ("patch", f"/api/jobs/{job['id']}/", employer),
        ("post", f"/api/jobs/{job['id']}/apply/", employee),
        ("post", f"/api/jobs/{job['id']}/complete/", employer),
        ("post", CALLBACK, None),
        ("post", "/api/callbacks/c2b/validation/", None),
        ("post", "/api/callbacks/stk/", None),
        ("post", "/api/callbacks/reversal/result/", None),
        ("post", "/api/callbacks/reversal/timeout/", None),
        ("post", f"/api/jobs/{job['id']}/deposit/", employer),
    ]
    before = row_counts()
    for method, url, user in urls:
        client = api.as_user(user) if user else api.anonymous()
        with api._capture(execute=True):
            response = client.client.generic(
                method.upper(), url, body, content_type="application/json"
            )
        assert response.status_code < 500, (url, response.content[:200])
        assert response.json() is not None
    after = row_counts()
    # Every callback but the validation (read-only) is on record with its outcome.
    assert after.pop("ProviderCallback") == before.pop("ProviderCallback") + 4
    assert after == before


@pytest.mark.parametrize("url", ["/api/jobs/99999999999999999999999/", "/api/jobs/abc/"])
def test_impossible_ids_are_404s(api, employer, url, settings):
    settings.DEBUG = False
    response = api.as_user(employer).get(url)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
