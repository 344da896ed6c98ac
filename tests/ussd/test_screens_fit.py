"""Every screen, in both languages, with the longest names and amounts, fits in 182 characters."""

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from jobs import services as jobs
from ussd.engine import SCREENS, Context
from ussd.texts import TEXTS, t

NUMBERS = itertools.count(1)
long_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=200,
)


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_fits_with_the_largest_values(key, lang):
    values = {
        "name": "W" * 24,
        "title": "T" * 40,
        "status": "imesitishwa",
        "funded": "9999999.99",
        "amount": "10000000.00",
        "paybill": "9999999",
        "account": "ESCROW_XXXXXXXX",
        "left": 2,
        "reason": "R" * 60,
        "date": "31/12",
        "secured": "Ndiyo",
    }
    assert len(t(key, lang, **values)) + len("\n0. Rudi 00. Mwanzo") <= 182


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=long_text,
    title=long_text,
    lang=st.sampled_from(["en", "sw"]),
    budget=st.integers(min_value=1000, max_value=10**9).map(lambda c: Decimal(c) / 100),
)
def test_every_screen_fits(db, first, title, lang, budget):
    n = next(NUMBERS)
    employer = User.objects.create_user(
        f"+2547120{n:05d}",
        None,
        user_type="employer",
        first_name=first[:150],
        last_name=first[:150],
        language=lang,
    )
    worker = User.objects.create_user(
        f"+2547220{n:05d}",
        None,
        user_type="employee",
        first_name=first[:150],
        last_name="X",
        language=lang,
    )
    job = jobs.job_create(employer=employer, title=title[:200], description="d", budget=budget)
    jobs.job_apply(job_id=job.pk, employee=worker)
    params = {"job_id": job.pk, "employee_id": worker.pk, "page": 0}
    for user in (employer, worker):
        ctx = Context("s", user.phone_number, {"stack": [], "data": {}})
        for name, shown in SCREENS.items():
            if (
                name in {"employer_job", "applicants", "confirm_assign", "release_pin", "my_jobs"}
                and user == worker
            ):
                continue
            if name == "release_pin":
                continue  # needs an assigned job; covered by the journeys
            text = shown.show(ctx, dict(params))
            assert len(text) <= 182, (name, text)
