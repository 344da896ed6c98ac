from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, Q, QuerySet

from accounts.models import User
from jobs.models import JobApplication, JobListing, JobStatus

REMIND_BEFORE_RELEASE = timedelta(hours=24)
CENT = Decimal("0.01")


def _jobs() -> QuerySet[JobListing]:
    return JobListing.objects.select_related(
        "employer", "employee", "escrow", "escrow__dispute__raised_by"
    ).prefetch_related("escrow__operations", "escrow__payouts", "escrow__dispute__messages__author")


@dataclass(frozen=True)
class PublicProfile:
    """What anyone may know of a user: no phone number, no email."""

    id: int
    name: str
    user_type: str
    date_joined: datetime
    rating_average: Decimal | None
    ratings_count: int
    jobs_completed: int


def public_profile(user_id: int) -> PublicProfile | None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    ratings = user.ratings_received.aggregate(average=Avg("score"), count=Count("pk"))
    finished = JobListing.objects.filter(status__in=[JobStatus.COMPLETED, JobStatus.RESOLVED])
    average = ratings["average"]
    return PublicProfile(
        id=user.pk,
        name=user.get_full_name(),
        user_type=user.user_type,
        date_joined=user.date_joined,
        rating_average=None if average is None else Decimal(str(average)).quantize(CENT),
        ratings_count=ratings["count"],
        jobs_completed=finished.filter(Q(employer=user) | Q(employee=user)).count(),
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


def jobs_release_due(*, now: datetime) -> list[int]:
    """Delivered jobs whose silence window is over (the service checks again under the lock)."""
    due = JobListing.objects.filter(status=JobStatus.DELIVERED, auto_release_at__lte=now)
    return list(due.order_by("auto_release_at").values_list("pk", flat=True))


def jobs_reminder_due(*, now: datetime) -> list[int]:
    """Delivered jobs released within a day whose employer has not been told yet."""
    due = JobListing.objects.filter(
        status=JobStatus.DELIVERED,
        auto_release_reminded_at__isnull=True,
        auto_release_at__lte=now + REMIND_BEFORE_RELEASE,
    )
    return list(due.values_list("pk", flat=True))


def job_applications(*, job: JobListing) -> QuerySet[JobApplication]:
    return job.applications.select_related("employee")
