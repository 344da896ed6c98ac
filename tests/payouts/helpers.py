"""Helpers for running the job flow against one payout provider's local fake."""

from collections.abc import Callable, Iterator

from payments.models import MobileMoneyPayout
from payments.providers import get_payout_provider
from tests.api.helpers import in_progress_job


def use_provider(settings, name: str, local: Callable) -> Iterator:
    """Choose PAYOUT_PROVIDER `name` for one test, with a fresh local fake behind it."""
    settings.PAYOUT_PROVIDER = name
    get_payout_provider.cache_clear()
    local.cache_clear()
    yield local()
    local.cache_clear()


def complete(api, employer, employee, budget: str = "1500.00") -> MobileMoneyPayout:
    """A job funded, assigned and completed over HTTP: its one payout as it stands."""
    job = in_progress_job(api, employer, employee, budget)
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    return MobileMoneyPayout.objects.get()
