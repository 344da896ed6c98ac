from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, F, OuterRef, QuerySet, Sum

from accounts.models import User
from escrow.models import (
    Dispute,
    EscrowContract,
    EscrowStatus,
    LedgerOperation,
    LedgerOperationKind,
    LedgerOperationStatus,
    exact_cents,
)
from escrow.workflows import can_arbitrate
from jobs.models import JOB_MACHINE, JobListing, JobStatus
from jobs.selectors import job_application_of, job_rating_by
from jobs.services import COMPLETABLE, RATEABLE

ZERO = Decimal("0.00")


def escrow_transactions(*, escrow: EscrowContract) -> list[LedgerOperation]:
    return list(escrow.operations.all())


def total(queryset: object, field: str) -> Decimal:
    """A sum of money, exact to the cent (SQLite sums decimals in floating point)."""
    return (queryset.aggregate(total=Sum(field))["total"] or ZERO).quantize(ZERO)


def escrow_totals() -> dict[str, Decimal]:
    escrows = EscrowContract.objects.all()
    funded = total(escrows, "funded_amount")
    released = total(escrows, "released_amount")
    refunded = total(escrows, "refunded_amount")
    return {"held": funded - released - refunded, "released": released, "refunded": refunded}


def escrows_with_stuck_operations(*, older_than: datetime) -> set[int]:
    return set(
        LedgerOperation.objects.filter(
            status=LedgerOperationStatus.PENDING, updated_at__lt=older_than
        ).values_list("escrow_id", flat=True)
    )


def escrow_by_reference(contract_id: str) -> EscrowContract | None:
    """One escrow and its ledger transactions, by its canonical reference (normalise_reference)."""
    escrows = EscrowContract.objects.prefetch_related("operations")
    return escrows.filter(contract_id=contract_id).first()


def _disputes() -> QuerySet[Dispute]:
    return Dispute.objects.select_related(
        "raised_by",
        "resolved_by",
        "escrow__job_listing__employer",
        "escrow__job_listing__employee",
    )


def disputes_open() -> QuerySet[Dispute]:
    """The arbiters' queue: open disputes, oldest first."""
    return _disputes().filter(resolved_at__isnull=True).order_by("created_at", "id")


def disputes_resolved() -> QuerySet[Dispute]:
    """Decided disputes, the latest decision first."""
    return _disputes().filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")


def dispute_with_messages(dispute_id: int) -> Dispute | None:
    return _disputes().prefetch_related("messages__author").filter(pk=dispute_id).first()


def held_amount(prefix: str = "") -> object:
    """What an escrow holds, as a query expression (`prefix`: the path to the escrow)."""
    return exact_cents(
        F(f"{prefix}funded_amount") - F(f"{prefix}released_amount") - F(f"{prefix}refunded_amount")
    )


def escrows_holding_money() -> QuerySet[EscrowContract]:
    return EscrowContract.objects.annotate(held=held_amount()).filter(held__gt=0)


def escrows_owing_back_before_the_ledger() -> QuerySet[EscrowContract]:
    """Escrows that owe the employer money (a refund, or their share of a dispute) which the
    ledger has not yet confirmed leaving the escrow: its payout is made only once it has (a
    failed refund or resolve operation keeps it here until retried)."""
    confirmed = LedgerOperation.objects.filter(
        escrow=OuterRef("pk"),
        kind__in=[LedgerOperationKind.REFUND, LedgerOperationKind.RESOLVE],
        status=LedgerOperationStatus.SUCCEEDED,
    )
    return EscrowContract.objects.filter(refunded_amount__gt=0).exclude(Exists(confirmed))


class JobAction(StrEnum):
    """What a viewer can do to a job now. The services decide again, under their locks; this only
    says which buttons to offer."""

    PAY = "pay"
    APPLY = "apply"
    ASSIGN = "assign"
    DELIVER = "deliver"
    COMPLETE = "complete"
    CANCEL = "cancel"
    DISPUTE = "dispute"
    DISPUTE_MESSAGE = "dispute_message"
    RESOLVE = "resolve"
    RATE = "rate"


DISPUTABLE_ESCROW = (EscrowStatus.FUNDED, EscrowStatus.IN_PROGRESS)


def job_actions(*, viewer: User | AnonymousUser, job: JobListing) -> frozenset[JobAction]:
    """The actions the services would let `viewer` take on `job` as it stands."""
    if not viewer.is_authenticated:
        return frozenset()
    escrow = job.escrow
    employer = viewer.pk == job.employer_id
    worker = job.employee_id is not None and viewer.pk == job.employee_id
    dispute = getattr(escrow, "dispute", None)
    arbiter = can_arbitrate(viewer)
    offered = {
        JobAction.PAY: employer and escrow.remaining_amount > 0,
        JobAction.APPLY: viewer.is_employee
        and job.status == JobStatus.OPEN
        and job_application_of(job=job, user=viewer) is None,
        JobAction.ASSIGN: employer
        and JOB_MACHINE.allows(job.status, "assign")
        and job.applications.exists(),
        JobAction.DELIVER: worker and JOB_MACHINE.allows(job.status, "deliver"),
        JobAction.COMPLETE: employer
        and job.status in COMPLETABLE
        and escrow.status == EscrowStatus.IN_PROGRESS,
        JobAction.CANCEL: employer and JOB_MACHINE.allows(job.status, "cancel"),
        JobAction.DISPUTE: (employer or worker)
        and JOB_MACHINE.allows(job.status, "dispute")
        and escrow.status in DISPUTABLE_ESCROW,
        JobAction.DISPUTE_MESSAGE: dispute is not None
        and dispute.is_open
        and (employer or worker or arbiter),
        JobAction.RESOLVE: arbiter and dispute is not None and dispute.is_open,
        JobAction.RATE: (employer or worker)
        and job.status in RATEABLE
        and job_rating_by(job=job, user=viewer) is None,
    }
    return frozenset(action for action, allowed in offered.items() if allowed)
