"""Who sees what of a job. Whoever may read a job (selectors.jobs_visible_to) sees its public part,
as anyone eligible to apply does: what the escrow's proof page shows anyway. The fields below
concern only some of its readers; the serializers show them to no one else."""

from enum import StrEnum

from accounts.models import User
from jobs.models import JobListing


class Role(StrEnum):
    """The viewer's part in one job."""

    EMPLOYER = "employer"
    STAFF = "staff"  # arbitrates disputes: sees all; may change only what their own role may
    WORKER = "worker"
    PUBLIC = "public"  # applicants and any other employee who may read the job


# The job's fields that concern only these roles.
JOB_FIELDS_SHOWN_TO: dict[str, frozenset[Role]] = {
    "employee": frozenset({Role.EMPLOYER, Role.STAFF, Role.WORKER}),
    # How to pay is the payer's business.
    "deposit_instructions": frozenset({Role.EMPLOYER, Role.STAFF}),
    # A quarrel is the two parties' and the arbiters' business.
    "dispute": frozenset({Role.EMPLOYER, Role.STAFF, Role.WORKER}),
}


def role_of(viewer: User, job: JobListing) -> Role:
    """The viewer may be anonymous (the web's public pages): no id, no part in any job."""
    if viewer.pk is None:
        return Role.PUBLIC
    if viewer.pk == job.employer_id:
        return Role.EMPLOYER
    if viewer.is_staff:
        return Role.STAFF
    if viewer.pk == job.employee_id:
        return Role.WORKER
    return Role.PUBLIC


def hidden_job_fields(viewer: User, job: JobListing) -> list[str]:
    role = role_of(viewer, job)
    return [field for field, roles in JOB_FIELDS_SHOWN_TO.items() if role not in roles]
