"""What happens to a job alone: applications, delivery, ratings. What also moves its escrow is
in escrow/workflows.py. Each runs in one transaction under the job's row lock."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from jobs.models import JOB_MACHINE, JobApplication, JobListing, JobStatus, Rating
from kazi.errors import Conflict, Forbidden
from notifications.messages import Event
from notifications.services import notify

COMPLETABLE = {JobStatus.IN_PROGRESS, JobStatus.DELIVERED}
RATEABLE = {JobStatus.COMPLETED, JobStatus.RESOLVED}


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
def job_deliver(*, job_id: int, employee: User) -> JobListing:
    """The assigned worker says the work is done: the employer now has AUTO_RELEASE_SECONDS to
    complete or dispute, after which the escrow is released as if they had completed it."""
    job = JobListing.objects.select_for_update(of=("self",)).select_related("employer")
    job = job.get(pk=job_id)
    if job.employee_id != employee.pk:
        raise Forbidden("Only the worker assigned to this job can deliver it.")
    JOB_MACHINE.apply(job, "deliver")
    job.delivered_at = timezone.now()
    job.auto_release_at = job.delivered_at + settings.AUTO_RELEASE_AFTER
    job.save()
    notify(
        user=job.employer,
        event=Event.DELIVERED,
        subject=f"{job.escrow_contract_id}:{job.delivered_at:%Y%m%d%H%M%S}",
        job=job.title,
        deadline=job.auto_release_at,
    )
    return job


@transaction.atomic
def job_auto_release_remind(*, job_id: int) -> bool:
    """Mark that the employer was told the release is coming (once), if it still is."""
    job = JobListing.objects.select_for_update(of=("self",)).select_related("employer")
    job = job.get(pk=job_id)
    if job.status != JobStatus.DELIVERED or job.auto_release_reminded_at:
        return False
    job.auto_release_reminded_at = timezone.now()
    job.save(update_fields=["auto_release_reminded_at", "updated_at"])
    notify(
        user=job.employer,
        event=Event.AUTO_RELEASE_SOON,
        subject=f"{job.escrow_contract_id}:{job.delivered_at:%Y%m%d%H%M%S}",
        job=job.title,
        deadline=job.auto_release_at,
    )
    return True


@transaction.atomic
def job_rate(*, job_id: int, rater: User, score: int, comment: str = "") -> Rating:
    """Each side rates the other once the job has ended with money paid out."""
    job = JobListing.objects.select_for_update().get(pk=job_id)
    if rater.pk not in {job.employer_id, job.employee_id}:
        raise Forbidden("Only the employer and the worker of this job can rate it.")
    if job.status not in RATEABLE:
        raise Conflict("A job can be rated once it is completed or its dispute resolved.")
    ratee_id = job.employee_id if rater.pk == job.employer_id else job.employer_id
    try:
        with transaction.atomic():
            return Rating.objects.create(
                job=job, rater=rater, ratee_id=ratee_id, score=score, comment=comment
            )
    except IntegrityError:
        raise Conflict("You have already rated this job.") from None
