from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Avg, Count, OuterRef, Q, QuerySet, Subquery

from accounts.models import User
from jobs.models import JobApplication, JobListing, JobStatus, Rating

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
    """Delivered jobs released within a day whose employer has not been told yet (not those
    whose deadline has passed: they are released now, and "unless you confirm or dispute
    before then" would name a time gone by)."""
    due = JobListing.objects.filter(
        status=JobStatus.DELIVERED,
        auto_release_reminded_at__isnull=True,
        auto_release_at__gt=now,
        auto_release_at__lte=now + REMIND_BEFORE_RELEASE,
    )
    return list(due.values_list("pk", flat=True))


def job_applications(*, job: JobListing) -> QuerySet[JobApplication]:
    return job.applications.select_related("employee")


# --- What the web pages read (web/) ---

FINISHED = (JobStatus.COMPLETED, JobStatus.RESOLVED)
SEARCH_WORDS = 8  # words of a search that count; the rest are ignored


def open_jobs(*, search: str = "") -> QuerySet[JobListing]:
    """Jobs taking applications, newest first, whose title or description has every word of
    `search`: anyone may read their public part."""
    jobs = JobListing.objects.filter(status=JobStatus.OPEN).select_related("employer", "escrow")
    for word in search.split()[:SEARCH_WORDS]:
        jobs = jobs.filter(Q(title__icontains=word) | Q(description__icontains=word))
    return jobs.order_by("-created_at", "-id")


def jobs_readable_by(user: User | AnonymousUser) -> QuerySet[JobListing]:
    """The jobs whose page `user` may open: open jobs for anyone (their public part), and the
    jobs jobs_visible_to gives them. What of each: jobs/visibility.py."""
    if not user.is_authenticated:
        return _jobs().filter(status=JobStatus.OPEN)
    if user.is_staff:
        return _jobs()
    return _jobs().filter(Q(status=JobStatus.OPEN) | Q(pk__in=jobs_visible_to(user).values("pk")))


def jobs_of(user: User) -> QuerySet[JobListing]:
    """An employer's jobs, or the jobs a worker was given or applied for, newest first."""
    if user.is_employer:
        return jobs_posted_by(user)
    return _jobs().filter(Q(employee=user) | Q(applications__employee=user)).distinct()


def job_applicants(*, job: JobListing) -> QuerySet[JobApplication]:
    """The job's applications, each applicant with their rating and the jobs they finished."""
    ratings = Rating.objects.filter(ratee=OuterRef("employee")).values("ratee")
    finished = JobListing.objects.filter(employee=OuterRef("employee"), status__in=FINISHED)
    return job_applications(job=job).annotate(
        rating_average=Subquery(ratings.annotate(average=Avg("score")).values("average")),
        ratings_count=Subquery(ratings.annotate(count=Count("pk")).values("count")),
        jobs_completed=Subquery(
            finished.values("employee").annotate(count=Count("pk")).values("count")
        ),
    )


def job_application_of(*, job: JobListing, user: User | AnonymousUser) -> JobApplication | None:
    if not user.is_authenticated:
        return None
    return job.applications.filter(employee=user).first()


def job_rating_by(*, job: JobListing, user: User | AnonymousUser) -> Rating | None:
    if not user.is_authenticated:
        return None
    return job.ratings.filter(rater=user).first()
