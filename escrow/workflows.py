"""What happens to a job and its escrow together: each operation runs in one transaction and locks
rows in one order, job then escrow. Above jobs (DESIGN §12): jobs know nothing of escrows."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from escrow import services as escrow_services
from escrow.models import Dispute, DisputeMessage, EscrowContract, EscrowStatus
from jobs.models import JOB_MACHINE, JobListing, JobStatus
from jobs.services import COMPLETABLE
from kazi.errors import Conflict, DomainError, Forbidden
from notifications.messages import Event
from notifications.services import notify


def _locked(job_id: int) -> tuple[JobListing, EscrowContract]:
    job = (
        JobListing.objects.select_for_update(of=("self",)).select_related("employer").get(pk=job_id)
    )
    escrow = EscrowContract.objects.select_for_update().get(job_listing_id=job_id)
    return job, escrow


@transaction.atomic
def job_create(*, employer: User, title: str, description: str, budget: Decimal) -> JobListing:
    if not employer.is_employer:
        raise Forbidden("Only employers can post jobs.")
    job = JobListing.objects.create(
        employer=employer, title=title, description=description, budget=budget
    )
    escrow_services.escrow_open(job=job)
    return job


@transaction.atomic
def job_update(
    *,
    job_id: int,
    title: str | None = None,
    description: str | None = None,
    budget: Decimal | None = None,
) -> JobListing:
    job, escrow = _locked(job_id)
    if job.status != JobStatus.OPEN:
        raise Conflict(f"Only open jobs can be edited; this one is {job.status}.")
    if budget is not None and budget != job.budget:
        escrow_services.escrow_set_amount(escrow=escrow, amount=budget)
        job.budget = budget
    job.title = title if title is not None else job.title
    job.description = description if description is not None else job.description
    job.save()
    return job


@transaction.atomic
def job_assign(*, job_id: int, employee_id: int) -> JobListing:
    job, escrow = _locked(job_id)
    employee = User.objects.filter(pk=employee_id).first()
    if employee is None or not employee.is_employee:
        raise DomainError("Choose an employee.", code="invalid_employee")
    if not job.applications.filter(employee=employee).exists():
        raise DomainError("Only an employee who applied can be assigned.", code="not_an_applicant")
    JOB_MACHINE.apply(job, "assign")
    job.employee = employee
    job.save()
    escrow_services.escrow_assign(escrow=escrow, employee=employee)
    notify(
        user=employee,
        event=Event.ASSIGNED,
        subject=escrow.contract_id,
        job=job.title,
        amount=escrow.amount,
    )
    if _start_if_ready(job, escrow):
        # Assigned to a job paid already: told "start once it is paid in full; we will tell
        # you", they hear it now.
        tell_paid_in_full(job, escrow, employee)
    return job


@transaction.atomic
def job_complete(*, job_id: int) -> JobListing:
    """The employer approves the work: the escrow is released to the worker, then paid out."""
    job, escrow = _locked(job_id)
    _complete(job, escrow)
    return job


def _complete(job: JobListing, escrow: EscrowContract) -> None:
    if job.status not in COMPLETABLE or escrow.status != EscrowStatus.IN_PROGRESS:
        raise Conflict(
            f"Only work in progress or delivered can be completed; the job is {job.status} "
            f"and its escrow {escrow.status}."
        )
    JOB_MACHINE.apply(job, "complete")
    job.save()
    escrow_services.escrow_complete(escrow=escrow)


@transaction.atomic
def job_auto_release(*, job_id: int) -> bool:
    """Release a delivered job whose silence window has passed (P15): checked again under the
    row lock, so a completion, a dispute or another sweep that got there first wins."""
    job, escrow = _locked(job_id)
    due = job.auto_release_at is not None and job.auto_release_at <= timezone.now()
    if job.status != JobStatus.DELIVERED or not due:
        return False
    _complete(job, escrow)
    return True


@transaction.atomic
def job_dispute(*, job_id: int, user: User, reason: str) -> Dispute:
    """Either party stops the money: no release, auto-release or cancel until an arbiter
    resolves it (P13)."""
    job, escrow = _locked(job_id)
    if user.pk not in {job.employer_id, job.employee_id}:
        raise Forbidden("Only the employer and the assigned worker can dispute this job.")
    # An open job has no worker to dispute with (its employer cancels it instead): a conflict
    # of state, refused before anything changes.
    JOB_MACHINE.target(job.status, "dispute")
    dispute = escrow_services.escrow_dispute(escrow=escrow, raised_by=user, reason=reason)
    JOB_MACHINE.apply(job, "dispute")
    job.save()
    for party in (job.employer, job.employee):
        notify(
            user=party,
            event=Event.DISPUTE_RAISED,
            subject=escrow.contract_id,
            by=user.get_full_name(),
            job=job.title,
        )
    return dispute


@transaction.atomic
def dispute_message_add(*, job_id: int, author: User, text: str) -> DisputeMessage:
    """Evidence from either party, or a note from an arbiter, while the dispute is open."""
    job, escrow = _locked(job_id)
    dispute = Dispute.objects.filter(escrow=escrow).first()
    if dispute is None:
        raise Conflict("This job has no dispute.")
    if author.pk not in {job.employer_id, job.employee_id} and not can_arbitrate(author):
        raise Forbidden("Only the two parties and arbiters can write in a dispute.")
    if not dispute.is_open:
        raise Conflict("This dispute has been resolved.")
    return DisputeMessage.objects.create(dispute=dispute, author=author, text=text)


def can_arbitrate(user: User) -> bool:
    return user.is_active and user.is_staff and user.has_perm("escrow.resolve_dispute")


@transaction.atomic
def job_resolve(
    *,
    job_id: int,
    arbiter: User,
    to_employee: Decimal,
    to_employer: Decimal,
    note: str = "",
) -> Dispute:
    """An arbiter splits a disputed escrow; each side with a share is paid it."""
    if not can_arbitrate(arbiter):
        raise Forbidden("Only arbiters can resolve disputes.")
    job, escrow = _locked(job_id)
    JOB_MACHINE.target(job.status, "resolve")
    dispute = escrow_services.escrow_resolve(
        escrow=escrow,
        arbiter=arbiter,
        to_employee=to_employee,
        to_employer=to_employer,
        note=note,
    )
    JOB_MACHINE.apply(job, "resolve")
    job.save()
    for party in (job.employer, job.employee):
        notify(
            user=party,
            event=Event.DISPUTE_RESOLVED,
            subject=escrow.contract_id,
            job=job.title,
            to_employee=to_employee,
            to_employer=to_employer,
        )
    return dispute


@transaction.atomic
def job_cancel(*, job_id: int) -> JobListing:
    """The employer withdraws a job before work starts; anything deposited is refunded."""
    job, escrow = _locked(job_id)
    JOB_MACHINE.apply(job, "cancel")
    job.save()
    escrow_services.escrow_refund(escrow=escrow)
    return job


@transaction.atomic
def job_start_when_paid(*, job_id: int) -> bool:
    """After money reached the escrow: its assigned worker starts once it is paid in full."""
    job, escrow = _locked(job_id)
    return _start_if_ready(job, escrow)


def tell_paid_in_full(job: JobListing, escrow: EscrowContract, *people: User) -> None:
    """The one "paid in full" message, whichever step learns it (the last deposit, or assigning
    a worker to a job paid already): notify keeps one per person and step, so nobody hears it
    twice."""
    for person in people:
        notify(
            user=person,
            event=Event.ESCROW_FUNDED,
            subject=escrow.contract_id,
            job=job.title,
            amount=escrow.amount,
        )


def _start_if_ready(job: JobListing, escrow: EscrowContract) -> bool:
    """Work starts when both an employee is assigned and the escrow is funded, in either order."""
    if job.status == JobStatus.ASSIGNED and escrow.status == EscrowStatus.FUNDED:
        JOB_MACHINE.apply(job, "start")
        job.save()
        escrow_services.escrow_start(escrow=escrow)
        return True
    return False
