"""Helpers for running the job flow against one payout provider's stand-in in the sandbox."""

from datetime import timedelta

from payouts.models import MobileMoneyPayout
from payouts.providers import get_payout_provider
from tests.api.helpers import in_progress_job


def use_provider(settings, name: str) -> None:
    """Choose PAYOUT_PROVIDER `name` for one test: its real client, reaching the sandbox."""
    settings.PAYOUT_PROVIDER = name
    get_payout_provider.cache_clear()


def complete(api, employer, employee, budget: str = "1500.00") -> MobileMoneyPayout:
    """A job funded, assigned and completed over HTTP: its one payout as it stands."""
    job = in_progress_job(api, employer, employee, budget)
    assert api.as_user(employer).post(f"/api/jobs/{job['id']}/complete/").status_code == 200
    return MobileMoneyPayout.objects.get()


def sweep(settings, capture) -> None:
    """The every-minute sweep, with everything in flight due; what the providers do after their
    answers (their later steps, their callbacks) happens once it has run, as after a commit."""
    from payouts.tasks import payout_sweep

    settings.OUTBOUND_STUCK_AFTER = timedelta(0)
    with capture(execute=True):
        payout_sweep()
