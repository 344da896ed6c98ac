"""Schemathesis over /api/schema/: requests generated from the OpenAPI schema (valid and
invalid), sent to every operation as each role, in process. Any 5xx, an answer that breaks the
schema, or one whose content type is not the schema's, fails. KAZI_SCHEMATHESIS_EXAMPLES sets
the examples per operation (each sent as every role); the session summary says how many requests
were sent (about 3,500 with the default)."""

import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from accounts.services import user_tokens
from escrow.workflows import job_create
from jobs.services import job_apply
from kazi.wsgi import application
from tests.factories import EmployeeFactory, EmployerFactory

EXAMPLES = int(os.environ.get("KAZI_SCHEMATHESIS_EXAMPLES", "3"))
SENT: Counter[str] = Counter()  # printed in the session summary by tests/conftest.py


@pytest.fixture
def api_schema(db):
    # As Django's test client does: the WSGI app must not close the test's connection (and its
    # transaction) at the end of each request.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def callers(db) -> dict[str, dict[str, str]]:
    """The headers of a caller of each role, with a job of theirs (or applied to) to find."""
    employer, employee = EmployerFactory(), EmployeeFactory()
    job = job_create(employer=employer, title="Paint", description="Walls", budget=1500)
    job_apply(job_id=job.pk, employee=employee)
    users = {"employer": employer, "employee": employee, "staff": EmployerFactory(is_staff=True)}
    headers = {
        role: {"Authorization": f"Bearer {user_tokens(u)['access']}"} for role, u in users.items()
    }
    return {"anonymous": {}, **headers}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_5xx_or_an_answer_off_its_schema(case, callers):
    for headers in callers.values():
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )
        SENT["requests"] += 1
