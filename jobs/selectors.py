from django.db.models import Q, QuerySet

from accounts.models import User
from jobs.models import JobApplication, JobListing, JobStatus


def _jobs() -> QuerySet[JobListing]:
    return JobListing.objects.select_related("employer", "employee", "escrow").prefetch_related(
        "escrow__operations", "escrow__payouts"
    )


def jobs_posted_by(employer: User) -> QuerySet[JobListing]:
    return _jobs().filter(employer=employer)


def jobs_visible_to(user: User) -> QuerySet[JobListing]:
    """Staff see every job (they arbitrate disputes); employers see their own jobs; employees see
    open jobs and the ones they applied for or were given. What of each job: jobs/visibility.py."""
    if user.is_staff:
        return _jobs()
    if user.is_employer:
        return jobs_posted_by(user)
    return (
        _jobs()
        .filter(Q(status=JobStatus.OPEN) | Q(applications__employee=user) | Q(employee=user))
        .distinct()
    )


def job_applications(*, job: JobListing) -> QuerySet[JobApplication]:
    return job.applications.select_related("employee")
