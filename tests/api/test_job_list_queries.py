"""The job list costs the same number of queries whatever the page holds (issue 16): everything a
job shows (its escrow, payouts, dispute, people) is fetched per page, not per job."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.helpers import apply_and_assign, pay, post_job


def queries_for_the_list(api, employer) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as seen:
        answer = api.as_user(employer).get("/api/jobs/")
    assert answer.status_code == 200
    return len(seen.captured_queries), len(answer.json()["results"])


def test_the_job_list_costs_the_same_for_one_job_or_a_full_page(api, employer, employee):
    def a_job_with_everything() -> None:
        job = post_job(api, employer)
        pay(api, job, trans_id=f"RK{job['id']:08d}")
        job = apply_and_assign(api, employer, employee, job)
        api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/")  # released and paid out

    a_job_with_everything()
    one = queries_for_the_list(api, employer)
    for _ in range(24):
        a_job_with_everything()
    full = queries_for_the_list(api, employer)
    assert (one[1], full[1]) == (1, 20)  # a page holds 20
    assert full[0] == one[0]
