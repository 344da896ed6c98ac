"""Who sees what of a payout: its payee, the job's employer and staff see everything; other readers
of the job (jobs/visibility.py) see that it exists, not where the money went."""

from accounts.models import User
from jobs.visibility import Role, role_of
from payouts.models import MobileMoneyPayout

# A payout's fields that concern only its payee, the job's employer and staff.
PAYOUT_PERSONAL_FIELDS = ("phone_number", "transaction_reference", "failure_reason")


def shows_payout_details(viewer: User, payout: MobileMoneyPayout) -> bool:
    """A worker sees the details of the payouts that pay them, not of a refund to the employer."""
    job = payout.escrow_contract.job_listing  # no query: jobs_visible_to loaded both
    paid_to_viewer = viewer.pk is not None and viewer.pk == payout.paid_to_id
    return paid_to_viewer or role_of(viewer, job) in {Role.EMPLOYER, Role.STAFF}
