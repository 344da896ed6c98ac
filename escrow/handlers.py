"""What follows a step of an escrow once it has committed (kazi/events.py)."""

from decimal import Decimal

from escrow import workflows
from escrow.models import EscrowContract
from kazi.events import subscribe
from kazi.outbound import dispatch_on_commit
from notifications.messages import Event
from notifications.services import notify


def after_credit(*, escrow_id: int, amount: str, owed: str, key: str) -> None:
    """Money reached the escrow: paid in full, the assigned worker's work starts; the employer
    hears what is still owed, or both sides that it is paid in full (once each: notify keeps
    one message per step); the operations it queued go to the ledger."""
    dispatch_on_commit("escrow.tasks.ledger_sync", escrow_id)
    escrow = EscrowContract.objects.select_related(
        "job_listing__employer", "job_listing__employee"
    ).get(pk=escrow_id)
    job = escrow.job_listing
    still_owed = Decimal(owed)
    if still_owed:
        notify(
            user=job.employer,
            event=Event.DEPOSIT_RECEIVED,
            subject=key,
            job=job.title,
            amount=Decimal(amount),
            owed=still_owed,
            reference=escrow.contract_id,
        )
        return
    workflows.job_start_when_paid(job_id=job.pk)
    workflows.tell_paid_in_full(job, escrow, *filter(None, (job.employer, job.employee)))


subscribe("escrow.credited", after_credit)
