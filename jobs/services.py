"""Job operations. Each runs in one transaction and locks rows in one order: job, then escrow."""

from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import User
from escrow import services as escrow_services
from escrow.models import EscrowContract, EscrowStatus
from jobs.models import JOB_MACHINE, JobApplication, JobListing, JobStatus
from kazi.errors import Conflict, DomainError, Forbidden


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
def job_apply(*, job_id: int, employee: User, message: str = "") -> JobApplication:
    if not employee.is_employee:
        raise Forbidden("Only employees can apply for jobs.")
    job = JobListing.objects.select_for_update().get(pk=job_id)
    if job.status != JobStatus.OPEN:
        raise Conflict("This job is no longer taking applications.")
    try:
        with transaction.atomic():
            return JobApplication.objects.create(job=job, employee=employee, message=message)
    except IntegrityError:
        raise Conflict("You have already applied for this job.") from None


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
    _start_if_ready(job, escrow)
    return job


@transaction.atomic
def job_complete(*, job_id: int) -> JobListing:
    """The employer approves the work: the escrow is released to the worker, then paid out."""
    job, escrow = _locked(job_id)
    if job.status != JobStatus.IN_PROGRESS or escrow.status != EscrowStatus.IN_PROGRESS:
        raise Conflict(
            f"Only work in progress can be completed; the job is {job.status} "
            f"and its escrow {escrow.status}."
        )
    JOB_MACHINE.apply(job, "complete")
    job.save()
    escrow_services.escrow_complete(escrow=escrow)
    return job


@transaction.atomic
def job_cancel(*, job_id: int) -> JobListing:
    """The employer withdraws a job before work starts; anything deposited is refunded."""
    job, escrow = _locked(job_id)
    JOB_MACHINE.apply(job, "cancel")
    job.save()
    escrow_services.escrow_refund(escrow=escrow)
    return job


def job_credit_deposit(
    *, job: JobListing, escrow: EscrowContract, amount: Decimal, source_key: str
) -> None:
    """Credit money received for this job's escrow (both rows locked by the caller)."""
    escrow_services.escrow_credit(escrow=escrow, amount=amount, source_key=source_key)
    _start_if_ready(job, escrow)


def _start_if_ready(job: JobListing, escrow: EscrowContract) -> None:
    """Work starts when both an employee is assigned and the escrow is funded, in either order."""
    if job.status == JobStatus.ASSIGNED and escrow.status == EscrowStatus.FUNDED:
        JOB_MACHINE.apply(job, "start")
        job.save()
        escrow_services.escrow_start(escrow=escrow)
