"""Who sees which personal field of a job: every viewer against a job in each interesting state.
A field the viewer may not see is still there, as null; the list shows each row as its detail."""

import pytest

from tests.api.helpers import pay, post_job
from tests.factories import ArbiterFactory, EmployeeFactory, EmployerFactory

VIEWERS = [
    "owner",
    "worker",
    "applicant",
    "other_employee",
    "other_employer",
    "staff",
    "anonymous",
]
PAYOUT_PERSONAL = ("phone_number", "transaction_reference", "failure_reason")
PAYOUT_DETAILS = {f"{row}.{field}" for row in ("payout", "payouts[0]") for field in PAYOUT_PERSONAL}
PARTIES = {"employer", "employee"}
HIDEABLE = ("employee", "deposit_instructions")  # the employer's name is public

# What each viewer is shown (the personal fields that are not null), or the status it gets.
# "worker" applied to every job and is assigned from "assigned" on; "applicant" applied too.
# Open and assigned jobs are partly paid, so they still tell how to pay the rest.
EXPECTED: dict[str, dict[str, set[str] | int]] = {
    "open": {
        "owner": {"employer", "deposit_instructions"},
        "worker": {"employer"},
        "applicant": {"employer"},
        "other_employee": {"employer"},
        "other_employer": 404,
        "staff": {"employer", "deposit_instructions"},
        "anonymous": 401,
    },
    "assigned": {
        "owner": PARTIES | {"deposit_instructions"},
        "worker": PARTIES,
        "applicant": {"employer"},
        "other_employee": 404,
        "other_employer": 404,
        "staff": PARTIES | {"deposit_instructions"},
        "anonymous": 401,
    },
    "in_progress": {
        "owner": PARTIES,
        "worker": PARTIES,
        "applicant": {"employer"},
        "other_employee": 404,
        "other_employer": 404,
        "staff": PARTIES,
        "anonymous": 401,
    },
    "completed": {
        "owner": PARTIES | PAYOUT_DETAILS,
        "worker": PARTIES | PAYOUT_DETAILS,
        "applicant": {"employer"},
        "other_employee": 404,
        "other_employer": 404,
        "staff": PARTIES | PAYOUT_DETAILS,
        "anonymous": 401,
    },
}


def cases():
    for state, expected in EXPECTED.items():
        for viewer in VIEWERS:
            yield pytest.param(state, viewer, expected[viewer], id=f"{state}-{viewer}")


@pytest.fixture
def people(db) -> dict:
    return {
        "owner": EmployerFactory(),
        "worker": EmployeeFactory(),
        "applicant": EmployeeFactory(),
        "other_employee": EmployeeFactory(),
        "other_employer": EmployerFactory(),
        "staff": EmployerFactory(is_staff=True),
    }


def make_job(api, people: dict, state: str) -> dict:
    """A job in `state`, as its owner sees it."""
    owner = people["owner"]
    job = post_job(api, owner)
    url = f"/api/jobs/{job['id']}/"
    pay(api, job, "500.00", trans_id=f"RKT{job['id']:07d}")
    for applicant in ("applicant", "worker"):
        assert api.as_user(people[applicant]).post(f"{url}apply/").status_code == 201
    if state != "open":
        assert api.as_user(owner).patch(url, {"employee": people["worker"].pk}).status_code == 200
    if state in ("in_progress", "completed"):
        pay(api, job, "1000.00", trans_id=f"RKU{job['id']:07d}")
    if state == "completed":
        assert api.as_user(owner).post(f"{url}complete/").status_code == 200
    job = api.as_user(owner).get(url).json()
    assert job["status"] == state
    return job


def client(api, people: dict, viewer: str):
    return api.anonymous() if viewer == "anonymous" else api.as_user(people[viewer])


def payout_rows(body: dict) -> dict[str, dict]:
    rows = {"payout": body["payout"]} if body["payout"] else {}
    return rows | {f"payouts[{i}]": row for i, row in enumerate(body["payouts"])}


def shown(body: dict) -> set[str]:
    """The personal fields of a job response that are not null."""
    fields = {name: body[name] for name in ("employer", *HIDEABLE)}
    for row, payout in payout_rows(body).items():
        fields |= {f"{row}.{name}": payout[name] for name in PAYOUT_PERSONAL}
    return {name for name, value in fields.items() if value is not None}


def public_part(body: dict) -> dict:
    """The job without the fields some viewers may not see."""

    def public(payout: dict) -> dict:
        return {key: value for key, value in payout.items() if key not in PAYOUT_PERSONAL}

    rest = {key: value for key, value in body.items() if key not in HIDEABLE}
    rest["payout"] = body["payout"] and public(body["payout"])
    rest["payouts"] = [public(row) for row in body["payouts"]]
    return rest


@pytest.mark.parametrize(("state", "viewer", "expected"), list(cases()))
def test_each_viewer_sees_only_what_concerns_them(api, people, state, viewer, expected):
    job = make_job(api, people, state)
    response = client(api, people, viewer).get(f"/api/jobs/{job['id']}/")
    if isinstance(expected, int):
        assert response.status_code == expected
        return
    body = response.json()
    assert shown(body) == expected
    # Hidden fields are null, not missing; the rest is the job as its owner sees it.
    assert body.keys() == job.keys()
    assert [row.keys() for row in payout_rows(body).values()] == [
        row.keys() for row in payout_rows(job).values()
    ]
    assert public_part(body) == public_part(job)
    if "employee" in expected:
        assert body["employee"]["id"] == people["worker"].pk
    if "payout.phone_number" in expected:
        assert body["payout"]["phone_number"] == people["worker"].phone_number
        assert body["payout"]["transaction_reference"]
        assert body["payout"]["failure_reason"] == ""


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_list_shows_each_row_as_its_detail_does(api, people, viewer):
    jobs = [make_job(api, people, state) for state in EXPECTED]
    response = client(api, people, viewer).get("/api/jobs/")
    if viewer == "anonymous":
        assert response.status_code == 401
        return
    rows = {row["id"]: row for row in response.json()["results"]}
    for job in jobs:
        detail = api.get(f"/api/jobs/{job['id']}/")
        if detail.status_code == 404:
            assert job["id"] not in rows
        else:
            assert rows[job["id"]] == detail.json()


def test_a_worker_does_not_see_the_details_of_a_payout_to_the_employer(api, people):
    """A resolved dispute pays both sides: each party's payout sits in the same `payouts`."""
    job = make_job(api, people, "in_progress")
    owner, worker = people["owner"], people["worker"]
    reason = {"reason": "Half the job was done."}
    assert api.as_user(worker).post(f"/api/jobs/{job['id']}/dispute/", reason).status_code == 200
    split = {"to_employee": "900.00", "to_employer": "600.00"}
    response = api.as_user(ArbiterFactory()).post(f"/api/jobs/{job['id']}/resolve/", split)
    assert response.status_code == 200, response.content
    as_seen_by = {
        viewer: {
            p["recipient"]: p
            for p in api.as_user(people[viewer]).get(f"/api/jobs/{job['id']}/").json()["payouts"]
        }
        for viewer in ("owner", "worker", "staff")
    }
    assert as_seen_by["worker"]["employer"]["phone_number"] is None
    assert as_seen_by["worker"]["employer"]["transaction_reference"] is None
    assert as_seen_by["worker"]["employer"]["amount"] == "600.00"
    assert as_seen_by["worker"]["employee"]["phone_number"] == worker.phone_number
    assert as_seen_by["owner"]["employer"]["phone_number"] == owner.phone_number
    assert as_seen_by["owner"]["employee"]["phone_number"] == worker.phone_number
    assert as_seen_by["staff"]["employer"]["transaction_reference"]
