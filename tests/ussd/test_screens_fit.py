"""Every screen, in both languages, with the longest names and amounts, fits in 182 characters."""

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from payouts.models import MobileMoneyPayout
from tests.ussd.states import jobs_in_every_state
from ussd import api  # noqa: F401 - registers every screen
from ussd.engine import SCREENS, Context
from ussd.texts import PAYOUT_KINDS_LONG, TEXTS, t

NUMBERS = itertools.count(1)
CENT = Decimal("0.01")
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
        "date": "31/12 23:59",
        "secured": "Ndiyo",
        "held": "10000000.00",
        "to_employee": "9999999.99",
        "to_employer": "9999999.99",
        "who": max((t(w, lang) for w in ("who_you", "who_worker", "who_employer")), key=len),
        "kind": max((k[lang] for k in PAYOUT_KINDS_LONG.values()), key=len),
        "receipt": "R" * 20,
    }
    assert len(t(key, lang, **values)) + len("\n0. Rudi 00. Mwanzo") <= 182


# The screens that show one job; the others are shown once for each user.
JOB_SCREENS = {
    "employer_job",
    "applicants",
    "confirm_assign",
    "release_pin",
    "open_job",
    "worker_job",
    "deliver_pin",
    "dispute_reason",
    "dispute_pin",
    "dispute_note",
}
EMPLOYER_ONLY = {"employer_job", "applicants", "confirm_assign", "release_pin", "money_payout"}


def make_user(kind: str, first: str, lang: str) -> User:
    n = next(NUMBERS)
    return User.objects.create_user(
        f"+25471{'2' if kind == 'employer' else '3'}{n:06d}",
        None,
        user_type=kind,
        first_name=first[:150],
        last_name=first[:150],
        language=lang,
    )


def money_back(employer: User, escrow: object = None) -> list[MobileMoneyPayout]:
    """A payout back to `employer` of each kind and status, of the largest amount M-Pesa sends."""
    payouts = []
    for kind in ("refund", "surplus", "dispute_share"):
        for status in ("pending", "processing", "completed", "failed"):
            payouts.append(
                MobileMoneyPayout.objects.create(
                    kind=kind,
                    recipient="employer",
                    escrow_contract=escrow,
                    paid_to=employer,
                    reference=f"REFUND_{next(NUMBERS):08d}_{'X' * 40}",
                    phone_number=employer.phone_number,
                    amount=Decimal("250000.00"),
                    status=status,
                    transaction_reference="RKTQDM7W6S" if status == "completed" else "",
                )
            )
    return payouts


def assert_every_screen_fits(first: str, title: str, lang: str, budget: Decimal) -> None:
    employer, worker, other = (
        make_user(kind, first, lang) for kind in ("employer", "employee", "employee")
    )
    made = jobs_in_every_state(employer, worker, other, title=title[:200], budget=budget)
    payouts = money_back(employer, made["cancelled_paid"].escrow)
    only_payouts = make_user("employer", first, lang)  # nothing held, nothing coming: 3 a page
    payouts += money_back(only_payouts)

    def fits(user: User, name: str, **params: object) -> None:
        ctx = Context("s", user.phone_number, {"stack": [], "data": {}})
        params = {"page": 0, "employee_id": worker.pk, **params}
        text = SCREENS[name].show(ctx, params)
        assert len(text) <= 182, (name, params, text)

    for user in (employer, worker, only_payouts):
        for name in SCREENS.keys() - JOB_SCREENS - EMPLOYER_ONLY:
            fits(user, name)
    for job in made.values():
        for user in (employer, worker):
            for name in JOB_SCREENS - (EMPLOYER_ONLY if user == worker else set()):
                if name == "release_pin" and job.employee_id is None:
                    continue  # offered only once someone has the job
                fits(user, name, job_id=job.pk)
    for payout in payouts:
        fits(payout.paid_to, "money_payout", payout_id=payout.pk)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_every_screen_fits_in_every_state_with_the_largest_values(db, lang):
    assert_every_screen_fits("W" * 150, "T" * 200, lang, Decimal("10000000.00"))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=long_text,
    title=long_text,
    lang=st.sampled_from(["en", "sw"]),
    budget=st.integers(min_value=10, max_value=10**7).map(lambda s: Decimal(s).quantize(CENT)),
)
def test_every_screen_fits(db, first, title, lang, budget):
    assert_every_screen_fits(first, title, lang, budget)
