"""The web pages through Django's test client, as a browser without JavaScript uses them: session
login, forms posted with their CSRF token, redirects followed. Outbound work queued on commit
(the ledger, M-Pesa prompts and payouts through the in-process sandbox) runs when each request's
transaction commits, as in production; the books must balance after every test."""

import secrets
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.test import Client

from escrow import workflows
from jobs import services
from jobs.models import JobListing
from tests.conftest import assert_books_balance, c2b_payload
from tests.factories import ArbiterFactory, EmployeeFactory, EmployerFactory, UserFactory

CALLBACK = "/api/callbacks/c2b/confirmation/"


class Web:
    """A browser: one session, each request's on-commit work run as its transaction commits."""

    def __init__(self, capture, **client_options) -> None:
        self.client = Client(**client_options)
        self._capture = capture

    def login(self, user) -> "Web":
        self.client.force_login(user)
        return self

    def logout(self) -> "Web":
        self.client.logout()
        return self

    def get(self, url: str, data=None, **extra):
        with self._capture(execute=True):
            return self.client.get(url, data, **extra)

    def post(self, url: str, data=None, **extra):
        with self._capture(execute=True):
            return self.client.post(url, data or {}, **extra)


class Story:
    """Jobs brought to a state by the services the pages call (and money in by M-Pesa's C2B
    confirmation), with their outbound work run as each step commits."""

    def __init__(self, capture) -> None:
        self._capture = capture
        self._paybill = Client()

    def _run(self, call, *args, **kwargs):
        with self._capture(execute=True):
            return call(*args, **kwargs)

    def refresh(self, job: JobListing) -> JobListing:
        return JobListing.objects.select_related("escrow").get(pk=job.pk)

    def posted(self, employer, budget: str = "1500", title: str = "Paint a two-room house"):
        return self._run(
            workflows.job_create,
            employer=employer,
            title=title,
            description="Walls and ceiling in Kasarani. Paint provided.",
            budget=Decimal(budget),
        )

    def paid(self, job: JobListing, amount: str | None = None) -> JobListing:
        job = self.refresh(job)
        trans_id = "R" + secrets.token_hex(4).upper()
        body = c2b_payload(job.escrow.contract_id, amount or job.budget, trans_id)
        with self._capture(execute=True):
            answer = self._paybill.post(CALLBACK, body, content_type="application/json")
        assert answer.status_code == 200, answer.content
        return self.refresh(job)

    def applied(self, job: JobListing, worker, message: str = "") -> JobListing:
        self._run(services.job_apply, job_id=job.pk, employee=worker, message=message)
        return self.refresh(job)

    def assigned(self, job: JobListing, worker) -> JobListing:
        self.applied(job, worker)
        self._run(workflows.job_assign, job_id=job.pk, employee_id=worker.pk)
        return self.refresh(job)

    def in_progress(self, employer, worker, budget: str = "1500") -> JobListing:
        return self.assigned(self.paid(self.posted(employer, budget)), worker)

    def delivered(self, employer, worker) -> JobListing:
        job = self.in_progress(employer, worker)
        self._run(services.job_deliver, job_id=job.pk, employee=worker)
        return self.refresh(job)

    def completed(self, employer, worker) -> JobListing:
        job = self.delivered(employer, worker)
        self._run(workflows.job_complete, job_id=job.pk)
        return self.refresh(job)

    def disputed(self, employer, worker, by=None) -> JobListing:
        job = self.in_progress(employer, worker)
        reason = "Only one of the two rooms was painted."
        self._run(workflows.job_dispute, job_id=job.pk, user=by or employer, reason=reason)
        return self.refresh(job)

    def cancelled(self, employer, paid: bool = True) -> JobListing:
        job = self.posted(employer)
        if paid:
            job = self.paid(job)
        self._run(workflows.job_cancel, job_id=job.pk)
        return self.refresh(job)


@pytest.fixture
def web(db, django_capture_on_commit_callbacks) -> Iterator[Web]:
    yield Web(django_capture_on_commit_callbacks)
    assert_books_balance()


@pytest.fixture
def browser(db, django_capture_on_commit_callbacks):
    """More browsers, each with its own session: browser() or browser(enforce_csrf_checks=True)."""
    return lambda **options: Web(django_capture_on_commit_callbacks, **options)


@pytest.fixture
def story(db, django_capture_on_commit_callbacks) -> Story:
    return Story(django_capture_on_commit_callbacks)


@pytest.fixture
def employer(db):
    return EmployerFactory(first_name="Wanjiku", last_name="Kamau", phone_number="+254712345678")


@pytest.fixture
def worker(db):
    return EmployeeFactory(first_name="Otieno", last_name="Ouma", phone_number="+254722000111")


@pytest.fixture
def other_worker(db):
    return EmployeeFactory(first_name="Achieng", last_name="Atieno", phone_number="+254733000222")


@pytest.fixture
def arbiter(db):
    return ArbiterFactory(first_name="Amina", last_name="Arbiter", phone_number="+254700000900")


@pytest.fixture
def staff(db):
    """Staff without the arbiter permission."""
    return UserFactory(user_type="employer", is_staff=True, phone_number="+254700000901")
