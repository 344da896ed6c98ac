from django.db.models import Q, QuerySet

from accounts.models import User
from jobs.models import JobApplication, JobListing, JobStatus


def jobs_visible_to(user: User) -> QuerySet[JobListing]:
    """Employers see their own jobs; employees see open jobs and the ones they applied for or
    were given."""
    jobs = JobListing.objects.select_related("employer", "employee", "escrow").prefetch_related(
        "escrow__operations", "escrow__payouts"
    )
    if user.is_employer:
        return jobs.filter(employer=user)
    return jobs.filter(
        Q(status=JobStatus.OPEN) | Q(applications__employee=user) | Q(employee=user)
    ).distinct()


def job_applications(*, job: JobListing) -> QuerySet[JobApplication]:
    return job.applications.select_related("employee")
