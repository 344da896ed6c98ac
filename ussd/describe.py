"""How a job and the money it moves read on a feature phone: where things stand, what happens
next, and what the viewer can do now (the services decide whether they may)."""

from datetime import datetime

from django.utils import timezone

from accounts.models import User
from jobs.models import JobListing, JobStatus
from payouts.models import MobileMoneyPayout, PayoutStatus
from ussd.engine import short
from ussd.texts import PAYOUT_KINDS, PAYOUT_KINDS_LONG, PAYOUT_WORDS, status_word, t, word

BEFORE_WORK = {JobStatus.OPEN, JobStatus.ASSIGNED}
UNDER_WAY = {JobStatus.IN_PROGRESS, JobStatus.DELIVERED}


def day(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m")


def when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m %H:%M")


def employer_actions(job: JobListing) -> list[str]:
    if job.status in BEFORE_WORK:
        return ["how_to_pay", "stk", "applicants"]
    if job.status in UNDER_WAY:
        return ["complete", "dispute"]
    return ["note"] if job.status == JobStatus.DISPUTED else []


def worker_actions(job: JobListing, worker: User) -> list[str]:
    if job.employee_id != worker.pk:
        return []
    return {
        JobStatus.IN_PROGRESS: ["deliver", "dispute"],
        JobStatus.DELIVERED: ["dispute"],
        JobStatus.DISPUTED: ["note"],
    }.get(job.status, [])


def actions_menu(actions: list[str], lang: str) -> list[str]:
    return [t(f"act_{action}", lang) for action in actions]


def employer_job_text(job: JobListing, lang: str) -> str:
    escrow = job.escrow
    title = short(job.title, 30)
    if job.status in BEFORE_WORK:
        return t(
            "job_employer",
            lang,
            title=title,
            status=status_word(job.status, lang),
            funded=escrow.funded_amount,
            amount=escrow.amount,
        )
    match job.status:
        case JobStatus.IN_PROGRESS:
            state = t("e_in_progress", lang, held=escrow.held_amount)
        case JobStatus.DELIVERED:
            state = t("e_delivered", lang, held=escrow.held_amount, date=when(job.auto_release_at))
        case JobStatus.DISPUTED:
            state = disputed_text(job, job.employer, lang)
        case JobStatus.RESOLVED:
            dispute = escrow.dispute
            state = t(
                "e_resolved",
                lang,
                to_employee=dispute.to_employee,
                to_employer=dispute.to_employer,
            )
        case JobStatus.COMPLETED:
            state = t("e_completed", lang, amount=escrow.amount)
        case JobStatus.CANCELLED if escrow.refunded_amount > 0:
            state = t("e_cancelled", lang, amount=escrow.refunded_amount)
        case JobStatus.CANCELLED:
            state = t("cancelled", lang)
        case _:
            state = status_word(job.status, lang)
    return f"{title}\n{state}"


def worker_job_text(job: JobListing, worker: User, lang: str) -> str:
    escrow = job.escrow
    head = t("job_mine", lang, title=short(job.title, 30), amount=job.budget)
    if job.status == JobStatus.OPEN:
        state = t("applied", lang)
    elif job.employee_id != worker.pk:
        state = t("w_taken" if job.employee_id else "w_cancelled", lang)
    else:
        match job.status:
            case JobStatus.ASSIGNED:
                state = t("w_assigned", lang)
            case JobStatus.IN_PROGRESS:
                state = t("w_in_progress", lang, held=escrow.held_amount)
            case JobStatus.DELIVERED:
                state = t("w_delivered", lang, date=when(job.auto_release_at))
            case JobStatus.DISPUTED:
                state = disputed_text(job, worker, lang)
            case JobStatus.RESOLVED:
                dispute = escrow.dispute
                state = t(
                    "w_resolved",
                    lang,
                    to_employee=dispute.to_employee,
                    to_employer=dispute.to_employer,
                )
            case JobStatus.COMPLETED:
                state = t("w_completed", lang, amount=escrow.amount)
            case JobStatus.CANCELLED:
                state = t("w_cancelled", lang)
            case _:
                state = status_word(job.status, lang)
    return f"{head}\n{state}"


def disputed_text(job: JobListing, viewer: User, lang: str) -> str:
    raised_by = job.escrow.dispute.raised_by_id
    if raised_by == viewer.pk:
        who = "who_you"
    else:
        who = "who_employer" if raised_by == job.employer_id else "who_worker"
    return t("disputed", lang, who=t(who, lang))


def worker_job_line(job: JobListing, worker: User, lang: str) -> str:
    """A line of the worker's list: someone else's job reads as taken, not as its status."""
    taken = job.employee_id not in (None, worker.pk)
    return f"{short(job.title, 18)} ({status_word('taken' if taken else job.status, lang)})"


def payout_line(payout: MobileMoneyPayout, lang: str) -> str:
    return t(
        "money_line",
        lang,
        amount=payout.amount,
        kind=word(PAYOUT_KINDS, payout.kind, lang),
        status=word(PAYOUT_WORDS, payout.status, lang),
    )


def payout_text(payout: MobileMoneyPayout, lang: str) -> str:
    if payout.escrow_contract_id:
        about = payout.escrow_contract.job_listing.title
    else:  # money that reached no escrow: the account the payer typed
        about = payout.deposit.bill_ref_number if payout.deposit_id else payout.reference
    lines = [
        t(
            "payout_detail",
            lang,
            title=short(about, 30),
            kind=word(PAYOUT_KINDS_LONG, payout.kind, lang),
            amount=payout.amount,
            status=word(PAYOUT_WORDS, payout.status, lang),
            date=day(payout.completed_at or payout.created_at),
        )
    ]
    if payout.status == PayoutStatus.COMPLETED and payout.transaction_reference:
        lines.append(t("payout_receipt", lang, receipt=short(payout.transaction_reference, 20)))
    if payout.status == PayoutStatus.FAILED:
        lines.append(t("payout_failed_help", lang))
    return "\n".join(lines)
