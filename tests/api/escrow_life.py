"""Steps of the whole escrow life over HTTP (DESIGN §9), for the tests of issue 12 ("Money that
can go back"): deliver, dispute, resolve, rate, and the rows a refused request must not write."""

import itertools
from datetime import timedelta

from django.utils import timezone

from accounts.phones import msisdn
from escrow.models import Dispute, DisputeMessage
from escrow.tasks import auto_release_sweep
from jobs.models import JobListing, Rating
from notifications.models import Notification, NotificationDelivery
from tests.api import helpers

_trans_ids = itertools.count(1)
EXTRA_MODELS = [Dispute, DisputeMessage, Rating, Notification, NotificationDelivery]
B2C = "/mpesa/b2c/v3/paymentrequest"


def row_counts() -> dict[str, int]:
    """helpers.row_counts() and the rows the escrow's whole life adds."""
    counts = helpers.row_counts()
    counts |= {model.__name__: model.objects.count() for model in EXTRA_MODELS}
    return counts


def url(job: dict, action: str = "") -> str:
    return f"/api/jobs/{job['id']}/" + (f"{action}/" if action else "")


def detail(api, user, job: dict) -> dict:
    response = api.as_user(user).get(url(job))
    assert response.status_code == 200, response.content
    return response.json()


def deliver(api, worker, job: dict):
    return api.as_user(worker).post(url(job, "deliver"))


def dispute(api, user, job: dict, reason: str = "Only one of the two rooms was painted."):
    return api.as_user(user).post(url(job, "dispute"), {"reason": reason})


def resolve(api, arbiter, job: dict, to_employee: str, to_employer: str, note: str = ""):
    split = {"to_employee": to_employee, "to_employer": to_employer, "note": note}
    return api.as_user(arbiter).post(url(job, "resolve"), split)


def rate(api, user, job: dict, score: int = 5, comment: str = ""):
    return api.as_user(user).post(url(job, "rating"), {"score": score, "comment": comment})


def complete(api, employer, job: dict):
    return api.as_user(employer).post(url(job, "complete"))


def cancel(api, employer, job: dict):
    return api.as_user(employer).post(url(job, "cancel"))


def new_trans_id() -> str:
    """An M-Pesa TransID no other payment in the test has used."""
    return f"RKL{next(_trans_ids):07d}"


def in_progress_job(api, employer, employee, budget: str = "1500.00") -> dict:
    """helpers.in_progress_job, its payment under a TransID of its own (several jobs a test)."""
    job = helpers.post_job(api, employer, budget)
    helpers.pay(api, job, trans_id=new_trans_id())
    return helpers.apply_and_assign(api, employer, employee, job)


def delivered_job(api, employer, employee, budget: str = "1500.00") -> dict:
    job = in_progress_job(api, employer, employee, budget)
    response = deliver(api, employee, job)
    assert response.status_code == 200, response.content
    return response.json()


def disputed_job(api, employer, employee, by=None, budget: str = "1500.00") -> dict:
    job = in_progress_job(api, employer, employee, budget)
    response = dispute(api, by or employee, job)
    assert response.status_code == 200, response.content
    return response.json()


def move_deadline(job: dict, by: timedelta) -> None:
    """The silence window ends `by` from now (negative: it ended that long ago)."""
    JobListing.objects.filter(pk=job["id"]).update(auto_release_at=timezone.now() + by)


def run_sweep(django_capture_on_commit_callbacks) -> int:
    """The periodic auto-release task, its outbound work carried out as after a real commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return auto_release_sweep()


def b2c_to(daraja) -> list[tuple[str, str, str]]:
    """(reference, phone, amount) of every B2C payment request the sandbox's Daraja received."""
    return [(p["OriginatorConversationID"], p["PartyB"], p["Amount"]) for p in daraja.sent(B2C)]


def phone(user) -> str:
    return msisdn(user.phone_number)


def by_recipient(payouts: list[dict]) -> dict[str, dict]:
    return {p["recipient"]: p for p in payouts}


def tx_hashes(job: dict) -> dict[str, str]:
    """The job's escrow transactions: operation -> hash (each but `fund` happens once)."""
    ops = [t["operation"] for t in job["escrow"]["transactions"] if t["operation"] != "fund"]
    assert len(ops) == len(set(ops)), ops
    return {t["operation"]: t["tx_hash"] for t in job["escrow"]["transactions"]}
