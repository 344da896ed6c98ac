from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from kazi.states import StateMachine


class JobStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    DISPUTED = "disputed", "Disputed"
    RESOLVED = "resolved", "Resolved"


# open -> assigned (employee chosen) -> in_progress (and escrow funded) -> delivered (the worker
# says it is done; the silence window starts) -> completed (the employer approves, or the window
# passes). The employer may cancel before work starts (the escrow is refunded); once an employee
# is assigned and money is held, either side may dispute, and only an arbiter's resolution ends it.
JOB_MACHINE = StateMachine(
    "job",
    {
        (JobStatus.OPEN, "assign"): JobStatus.ASSIGNED,
        (JobStatus.ASSIGNED, "start"): JobStatus.IN_PROGRESS,
        (JobStatus.IN_PROGRESS, "deliver"): JobStatus.DELIVERED,
        (JobStatus.IN_PROGRESS, "complete"): JobStatus.COMPLETED,
        (JobStatus.DELIVERED, "complete"): JobStatus.COMPLETED,
        (JobStatus.OPEN, "cancel"): JobStatus.CANCELLED,
        (JobStatus.ASSIGNED, "cancel"): JobStatus.CANCELLED,
        (JobStatus.ASSIGNED, "dispute"): JobStatus.DISPUTED,
        (JobStatus.IN_PROGRESS, "dispute"): JobStatus.DISPUTED,
        (JobStatus.DELIVERED, "dispute"): JobStatus.DISPUTED,
        (JobStatus.DISPUTED, "resolve"): JobStatus.RESOLVED,
    },
)


class JobListing(models.Model):
    employer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs_posted"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="jobs_assigned",
        null=True,
        blank=True,
    )
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=5000)
    budget = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    status = models.CharField(
        max_length=12, choices=JobStatus.choices, default=JobStatus.OPEN, db_index=True
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    auto_release_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the escrow is released unless the employer completes or disputes first",
    )
    auto_release_reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(budget__gt=0), name="job_budget_positive"),
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="job_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def escrow_contract_id(self) -> str:
        return self.escrow.contract_id


class JobApplication(models.Model):
    job = models.ForeignKey(JobListing, on_delete=models.CASCADE, related_name="applications")
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="applications"
    )
    message = models.TextField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "employee"], name="one_application_per_job")
        ]

    def __str__(self) -> str:
        return f"{self.employee} -> {self.job}"


class Rating(models.Model):
    """One side's verdict on the other once a job has ended (released or resolved), once each."""

    job = models.ForeignKey(JobListing, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings_given"
    )
    ratee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings_received"
    )
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "rater"], name="one_rating_per_job_and_rater"),
            models.CheckConstraint(
                condition=models.Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater} rated {self.ratee} {self.score}/5 for {self.job}"
