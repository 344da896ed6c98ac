"""What a page shows, worked out from the selectors for one viewer: the job page's sections, its
status timeline, what happens next and who has to act, and whether money is moving (then the
page watches it). Reads only; the services decide every change."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import User
from escrow import selectors as escrow_selectors
from escrow.models import EscrowContract, EscrowStatus, LedgerOperationStatus
from escrow.selectors import JobAction
from escrow.workflows import can_arbitrate
from jobs import selectors, visibility
from jobs.models import JobApplication, JobListing, JobStatus, Rating
from jobs.selectors import PublicProfile
from kazi.money import MAX_MPESA_TRANSACTION
from mpesa import selectors as money
from mpesa.models import MpesaDeposit, StkPushRequest, StkStatus
from payouts.models import MobileMoneyPayout, PayoutStatus
from payouts.visibility import shows_payout_details
from web.templatetags.kazi_web import kes

MOVING_PAYOUTS = (PayoutStatus.PENDING, PayoutStatus.PROCESSING)
POLL_SECONDS = 3


def when(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # done | current | todo
    moment: datetime | None = None


def timeline(job: JobListing, escrow: EscrowContract) -> list[Step]:
    """posted -> paid -> worker chosen -> delivered -> released, or a dispute -> resolved, or a
    cancellation -> refunded; done steps, the one under way, the ones to come."""
    dispute = getattr(escrow, "dispute", None)
    paid = escrow.funded_at is not None
    steps = [("posted", pgettext("timeline", "Posted"), True, job.created_at)]
    if paid or job.status != JobStatus.CANCELLED:
        steps.append(("paid", pgettext("timeline", "Paid into escrow"), paid, escrow.funded_at))
    if job.status == JobStatus.CANCELLED:
        steps.append(("cancelled", pgettext("timeline", "Cancelled"), True, None))
    else:
        steps.append(
            ("assigned", pgettext("timeline", "Worker chosen"), bool(job.employee_id), None)
        )
        ended = job.status in {JobStatus.COMPLETED, JobStatus.RESOLVED}
        if dispute is None or job.delivered_at:
            delivered = job.delivered_at is not None or job.status == JobStatus.COMPLETED
            steps.append(
                ("delivered", pgettext("timeline", "Work delivered"), delivered, job.delivered_at)
            )
        if dispute is not None:
            steps.append(("disputed", pgettext("timeline", "Disputed"), True, dispute.created_at))
            steps.append(("resolved", pgettext("timeline", "Resolved"), ended, dispute.resolved_at))
        else:
            released = escrow.status == EscrowStatus.RELEASED
            steps.append(
                (
                    "released",
                    pgettext("timeline", "Released to the worker"),
                    released,
                    escrow.released_at,
                )
            )
    shown, current_given = [], False
    for key, label, done, moment in steps:
        state = "done" if done else ("todo" if current_given else "current")
        current_given = current_given or not done
        shown.append(Step(key, label, state, moment if done else None))
    return shown


@dataclass(frozen=True)
class Next:
    who: str  # you | employer | worker | arbiter | mpesa | nobody
    text: str

    @property
    def who_label(self) -> str:
        return {
            "you": _("You"),
            "employer": _("The employer"),
            "worker": _("The worker"),
            "arbiter": _("An arbiter"),
            "mpesa": _("M-Pesa and the ledger"),
            "nobody": _("Nobody: it is finished"),
        }[self.who]


@dataclass
class PayoutLine:
    payout: MobileMoneyPayout
    details: bool  # its phone number, receipt and failure reason concern the viewer


@dataclass
class JobPage:
    viewer: User | AnonymousUser
    job: JobListing
    escrow: EscrowContract
    role: visibility.Role
    actions: frozenset[JobAction]
    employer_profile: PublicProfile | None
    application: JobApplication | None
    rating_given: Rating | None
    applicants: list[JobApplication] = field(default_factory=list)
    payouts: list[PayoutLine] = field(default_factory=list)
    deposits: list[MpesaDeposit] = field(default_factory=list)
    prompt: StkPushRequest | None = None
    steps: list[Step] = field(default_factory=list)
    next: Next | None = None
    under_way: bool = False
    version: str = ""

    @property
    def is_party(self) -> bool:
        return self.role in {visibility.Role.EMPLOYER, visibility.Role.WORKER}

    @property
    def sees_all(self) -> bool:
        """The job's people and staff: everything but what jobs/visibility keeps from them."""
        return self.role != visibility.Role.PUBLIC

    @property
    def sees_payment(self) -> bool:
        return "deposit_instructions" not in visibility.hidden_job_fields(self.viewer, self.job)

    @property
    def sees_dispute(self) -> bool:
        return "dispute" not in visibility.hidden_job_fields(self.viewer, self.job)

    @property
    def dispute(self) -> object:
        return getattr(self.escrow, "dispute", None) if self.sees_dispute else None

    @property
    def instructions(self) -> dict | None:
        """How the employer pays what is still owed: Pay Bill, account, amount."""
        owed = self.escrow.remaining_amount
        if not self.sees_payment or owed <= 0 or self.job.status == JobStatus.CANCELLED:
            return None
        return {
            "paybill": settings.MPESA_SHORTCODE,
            "account": self.escrow.contract_id,
            "amount": owed,
            "in_parts": owed > MAX_MPESA_TRANSACTION,  # one prompt asks for at most that
        }

    @property
    def taking_applications(self) -> bool:
        return self.job.status == JobStatus.OPEN

    @property
    def shows_applicants(self) -> bool:
        """The employer (and staff) choose among applicants while the job is open."""
        return self.taking_applications and (
            bool(self.applicants) or self.role == visibility.Role.EMPLOYER
        )

    @property
    def prompt_waiting(self) -> bool:
        return self.prompt is not None and self.prompt.status == StkStatus.PENDING

    @property
    def poll_seconds(self) -> int:
        return POLL_SECONDS

    def can(self, action: str) -> bool:
        return action in self.actions


def job_page(viewer: User | AnonymousUser, job: JobListing) -> JobPage:
    escrow = job.escrow
    role = visibility.role_of(viewer, job)
    page = JobPage(
        viewer=viewer,
        job=job,
        escrow=escrow,
        role=role,
        actions=escrow_selectors.job_actions(viewer=viewer, job=job),
        employer_profile=selectors.public_profile(job.employer_id),
        application=selectors.job_application_of(job=job, user=viewer),
        rating_given=selectors.job_rating_by(job=job, user=viewer),
    )
    if role in {visibility.Role.EMPLOYER, visibility.Role.STAFF}:
        page.applicants = list(selectors.job_applicants(job=job))
    if page.sees_all:
        page.payouts = [
            PayoutLine(p, shows_payout_details(viewer, p))
            for p in sorted(escrow.payouts.all(), key=lambda p: (p.created_at, p.pk))
        ]
    if page.sees_payment:
        page.deposits = list(money.escrow_deposits(escrow=escrow))
        page.prompt = money.escrow_stk_requests(escrow=escrow).first()
    page.steps = timeline(job, escrow)
    page.next = next_step(page)
    page.under_way, page.version = _motion(page)
    return page


def _motion(page: JobPage) -> tuple[bool, str]:
    """Whether money is moving that the viewer follows (a prompt on a phone, the ledger, a payout
    to a phone), and a fingerprint of the job's state: when it changes, the page reloads."""
    escrow = page.escrow
    ops = [op.status for op in escrow.operations.all()]
    payouts = [line.payout.status for line in page.payouts]
    moving = page.sees_all and (
        page.prompt_waiting
        or LedgerOperationStatus.PENDING in ops
        or escrow.status == EscrowStatus.COMPLETED
        or any(status in MOVING_PAYOUTS for status in payouts)
    )
    dispute = getattr(escrow, "dispute", None)
    state = [
        page.job.status,
        escrow.status,
        str(escrow.funded_amount),
        ",".join(ops),
        ",".join(payouts),
        page.prompt.status if page.prompt else "",
        str(len(dispute.messages.all())) if dispute else "",
    ]
    version = hashlib.sha256("|".join(state).encode()).hexdigest()[:16]
    return moving, version


def next_step(page: JobPage) -> Next:
    """What happens next and who has to act, said to this viewer."""
    job, escrow, role = page.job, page.escrow, page.role
    me_employer = role == visibility.Role.EMPLOYER
    me_worker = role == visibility.Role.WORKER
    worker = job.employee.get_full_name() if job.employee_id and page.sees_all else ""
    owed = kes(escrow.remaining_amount)
    status = job.status

    if status == JobStatus.OPEN:
        paid = escrow.status == EscrowStatus.FUNDED
        if me_employer and not paid:
            return Next(
                "you",
                _(
                    "Pay %(owed)s into escrow below. Workers then see the job is paid, and the "
                    "money stays held until you confirm the work is done."
                )
                % {"owed": owed},
            )
        if me_employer and page.applicants:
            return Next("you", _("The money is held. Choose a worker from the applicants below."))
        if me_employer:
            return Next(
                "you",
                _(
                    "The money is held. Wait for workers to apply: they appear below, and we tell "
                    "you by SMS."
                ),
            )
        if page.application is not None:
            return Next(
                "employer",
                _("You applied. The employer chooses a worker; we tell you by SMS if it is you."),
            )
        if page.can(JobAction.APPLY):
            text = (
                _("The money is already held in escrow. Apply below; the employer chooses.")
                if paid
                else _("Apply below. The employer pays into escrow before the work starts.")
            )
            return Next("you", text)
        if not page.viewer.is_authenticated:
            return Next(
                "employer",
                _("The employer is choosing a worker. Sign up or log in as a worker to apply."),
            )
        return Next("employer", _("The employer is choosing a worker."))

    if status == JobStatus.ASSIGNED:
        if me_employer:
            return Next(
                "you",
                _("You chose %(worker)s. Pay %(owed)s into escrow below so the work can start.")
                % {"worker": worker, "owed": owed},
            )
        if me_worker:
            return Next(
                "employer",
                _(
                    "You got the job. The employer is paying into escrow; we tell you by SMS when "
                    "the money is held. Start the work then."
                ),
            )
        return Next("employer", _("A worker was chosen. The employer is paying into escrow."))

    if status == JobStatus.IN_PROGRESS:
        if me_employer:
            return Next(
                "worker",
                _(
                    "%(worker)s is doing the work; the money is held. When it is done, release the "
                    "money. If something is wrong, raise a dispute."
                )
                % {"worker": worker},
            )
        if me_worker:
            return Next(
                "you",
                _(
                    "The money is held in escrow. Do the work, then tell the employer it is done "
                    "below."
                ),
            )
        return Next("worker", _("The work is under way; the money is held in escrow."))

    if status == JobStatus.DELIVERED:
        deadline = when(job.auto_release_at) if job.auto_release_at else ""
        if me_employer:
            return Next(
                "you",
                _(
                    "%(worker)s says the work is done. Check it, then release the money or raise "
                    "a dispute before %(deadline)s. After that the money goes to the worker by "
                    "itself."
                )
                % {"worker": worker, "deadline": deadline},
            )
        if me_worker:
            return Next(
                "employer",
                _(
                    "You said the work is done. The employer has until %(deadline)s to release the "
                    "money or dispute; after that it is released to you by itself."
                )
                % {"deadline": deadline},
            )
        return Next("employer", _("The worker says the work is done; the employer checks it."))

    if status == JobStatus.COMPLETED:
        return _paid_out_step(page, worker)

    if status == JobStatus.CANCELLED:
        if escrow.refunded_amount > 0 and page.sees_all:
            return _paid_out_step(page, worker)
        return Next("nobody", _("This job was cancelled. Nothing was paid, so nothing is owed."))

    if status == JobStatus.DISPUTED:
        held = kes(escrow.held_amount)
        if can_arbitrate(page.viewer):
            return Next(
                "you",
                _(
                    "Read both sides, then split the %(held)s held between the worker and the "
                    "employer on the dispute page."
                )
                % {"held": held},
            )
        if me_employer or me_worker:
            return Next(
                "arbiter",
                _(
                    "An arbiter is looking at the dispute. Add your side below: what happened, and "
                    "any proof. The %(held)s stays held until they decide."
                )
                % {"held": held},
            )
        return Next("arbiter", _("The job is in dispute; an arbiter decides."))

    # resolved
    return _paid_out_step(page, worker)


def _paid_out_step(page: JobPage, worker: str) -> Next:
    """After a release, a refund or a split: the money on its way to phones, or there."""
    escrow = page.escrow
    if not page.sees_all:
        return Next("nobody", _("This job is finished."))
    lines = page.payouts
    if escrow.status == EscrowStatus.COMPLETED or not lines:
        return Next(
            "mpesa",
            _(
                "The ledger is releasing the money; then it is sent to M-Pesa. This page updates "
                "by itself."
            ),
        )
    if any(line.payout.status in MOVING_PAYOUTS for line in lines):
        return Next("mpesa", _("The money is on its way to M-Pesa. This page updates by itself."))
    if any(line.payout.status == PayoutStatus.FAILED for line in lines):
        return Next(
            "mpesa",
            _(
                "A payment to M-Pesa failed. The money is safe with us and an operator sends it "
                "again."
            ),
        )
    if page.can(JobAction.RATE):
        return Next("you", _("All the money has been paid out. Rate each other below."))
    return Next("nobody", _("All the money has been paid out. This job is finished."))


@dataclass
class JobGroup:
    key: str
    title: str
    jobs: list[JobListing]


# An employer's jobs in the order they need them: what waits for them first.
EMPLOYER_ORDER = [
    (JobStatus.DELIVERED, "check"),
    (JobStatus.OPEN, "open"),
    (JobStatus.ASSIGNED, "open"),
    (JobStatus.IN_PROGRESS, "working"),
    (JobStatus.DISPUTED, "disputed"),
    (JobStatus.COMPLETED, "done"),
    (JobStatus.RESOLVED, "done"),
    (JobStatus.CANCELLED, "cancelled"),
]


def my_jobs(user: User, jobs: object) -> list[JobGroup]:
    """A person's jobs by what they are waiting for: an employer's by status, a worker's as the
    jobs they were given (by status) and the ones they applied for."""
    titles = {
        "check": _("Work delivered: check it and release the money"),
        "open": _("Waiting for payment or a worker"),
        "working": _("Work under way"),
        "disputed": _("In dispute"),
        "done": _("Finished"),
        "cancelled": _("Cancelled"),
        "todo": _("Jobs you were given: to do"),
        "waiting": _("Jobs you were given: waiting for the employer"),
        "applied": _("Applied: the employer is choosing"),
        "not_chosen": _("Applied: someone else was chosen"),
    }
    groups: dict[str, list[JobListing]] = {}
    if user.is_employer:
        order = dict(EMPLOYER_ORDER)
        keys = list(dict.fromkeys(order.values()))
        for job in jobs:
            groups.setdefault(order[job.status], []).append(job)
    else:
        keys = ["todo", "waiting", "disputed", "applied", "done", "not_chosen"]
        for job in jobs:
            if job.employee_id == user.pk:
                key = {
                    JobStatus.IN_PROGRESS: "todo",
                    JobStatus.ASSIGNED: "waiting",
                    JobStatus.DELIVERED: "waiting",
                    JobStatus.DISPUTED: "disputed",
                }.get(job.status, "done")
            elif job.status == JobStatus.OPEN:
                key = "applied"
            else:
                key = "not_chosen"
            groups.setdefault(key, []).append(job)
    return [JobGroup(key, titles[key], groups[key]) for key in keys if key in groups]


def proof_next(escrow: EscrowContract) -> str:
    """What happens next to an escrow, said to anyone (no names)."""
    return {
        EscrowStatus.PENDING_DEPOSIT: _(
            "Waiting for the employer to pay by M-Pesa. The money is then held here until the "
            "work is done."
        ),
        EscrowStatus.FUNDED: _("Paid in full and held. The employer is choosing a worker."),
        EscrowStatus.IN_PROGRESS: _(
            "Held while the work is done. It is released to the worker when the employer "
            "confirms, or by itself after the work is delivered."
        ),
        EscrowStatus.COMPLETED: _("The employer confirmed the work: the ledger is releasing it."),
        EscrowStatus.RELEASED: _("Finished: the money was released to the worker."),
        EscrowStatus.REFUNDED: _("The job was cancelled: what was paid went back to the employer."),
        EscrowStatus.DISPUTED: _("Frozen by a dispute until an arbiter decides."),
        EscrowStatus.RESOLVED: _("An arbiter split the money between the worker and the employer."),
    }[escrow.status]
