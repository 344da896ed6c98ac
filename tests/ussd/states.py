"""Jobs in every state a USSD screen shows, set up through the services as the app would."""

import itertools
from decimal import Decimal

from escrow import workflows
from jobs import services as jobs
from jobs.models import JobListing
from mpesa.deposits import ReceivedPayment, deposit_record
from tests.conftest import after_commit
from tests.factories import ArbiterFactory

_receipts = itertools.count(1)


def pay_in(job: JobListing, amount: Decimal | None = None) -> None:
    """The employer pays the job in by Pay Bill (the whole budget unless told)."""
    deposit_record(
        payment=ReceivedPayment(
            f"RKT{next(_receipts):07d}",
            amount or job.escrow.remaining_amount,
            job.escrow.contract_id,
            "",
            "",
            "",
        ),
        callback=None,
    )
    after_commit()  # paid in full, an assigned worker's work starts


def job_under_way(
    employer, worker, *, title: str = "Fix a roof", budget: str = "2000"
) -> JobListing:
    """Posted, applied for, given to `worker` and paid in: the work is in progress."""
    job = workflows.job_create(
        employer=employer, title=title, description="d", budget=Decimal(budget)
    )
    jobs.job_apply(job_id=job.pk, employee=worker)
    workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
    pay_in(job)
    return job


def jobs_in_every_state(employer, worker, other_worker, *, title: str, budget: Decimal) -> dict:
    """One job of `employer`'s in each state, each applied for by `worker`; `other_worker` has
    the one called "taken". Outbound work (the ledger, payouts) is left pending."""
    made = {}

    def new(name: str) -> JobListing:
        job = workflows.job_create(employer=employer, title=title, description="d", budget=budget)
        jobs.job_apply(job_id=job.pk, employee=worker)
        made[name] = job
        return job

    new("open")
    workflows.job_assign(job_id=new("assigned").pk, employee_id=worker.pk)
    for name in ("in_progress", "delivered", "disputed_by_worker", "disputed_by_employer"):
        job = new(name)
        workflows.job_assign(job_id=job.pk, employee_id=worker.pk)
        pay_in(job)
    jobs.job_deliver(job_id=made["delivered"].pk, employee=worker)
    workflows.job_dispute(job_id=made["disputed_by_worker"].pk, user=worker, reason="Not paid")
    workflows.job_dispute(job_id=made["disputed_by_employer"].pk, user=employer, reason="Poor")
    resolved = new("resolved")
    workflows.job_assign(job_id=resolved.pk, employee_id=worker.pk)
    pay_in(resolved)
    workflows.job_dispute(job_id=resolved.pk, user=employer, reason="Poor quality")
    # Shares of whole shillings, each nothing or at least what M-Pesa sends (KES 10).
    back = (budget // 2) if budget >= 20 else Decimal(0)
    workflows.job_resolve(
        job_id=resolved.pk,
        arbiter=ArbiterFactory(),
        to_employee=budget - back,
        to_employer=back,
    )
    completed = new("completed")
    workflows.job_assign(job_id=completed.pk, employee_id=worker.pk)
    pay_in(completed)
    workflows.job_complete(job_id=completed.pk)
    pay_in(new("cancelled_paid"))
    workflows.job_cancel(job_id=made["cancelled_paid"].pk)
    workflows.job_cancel(job_id=new("cancelled").pk)
    taken = new("taken")
    jobs.job_apply(job_id=taken.pk, employee=other_worker)
    workflows.job_assign(job_id=taken.pk, employee_id=other_worker.pk)
    for job in made.values():
        job.refresh_from_db()
    return made
