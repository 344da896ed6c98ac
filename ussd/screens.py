"""The USSD screens. Each shows a text and turns an answer into the next step by calling the
same services as the REST API."""

import re

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts import pins
from accounts.models import User, UserType
from escrow import workflows
from jobs import selectors as job_selectors
from jobs import services as jobs
from jobs.models import JobListing, JobStatus
from kazi.errors import DomainError
from mpesa.stk import stk_request
from payouts.models import MobileMoneyPayout
from ussd import describe
from ussd.engine import Again, Context, End, Go, Params, choice, invalid, menu, screen, short
from ussd.selectors import employer_money
from ussd.services import ussd_register
from ussd.texts import DISPUTE_REASONS, status_word, t

PAGE = 3
NAME = re.compile(r"^[^\W\d_][\w' -]{0,29}$")


def home_screen(ctx: Context) -> str:
    if ctx.user is None:
        return "reg_language"
    return "home_employer" if ctx.user.is_employer else "home_employee"


def failure(ctx: Context, exc: DomainError) -> End:
    return End(t("error", ctx.lang, reason=exc.message))


# --- registration ------------------------------------------------------------------------------


@screen("reg_language", back=False)
class RegLanguage:
    def show(ctx: Context, params: Params) -> str:
        return t("welcome_new", "en")

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        picked = choice(value, 2)
        if picked is None:
            return invalid(ctx)
        ctx.state["lang"] = "en" if picked == 1 else "sw"
        return Go("reg_first")


class NameEntry:
    key = ""
    prompt = ""
    then = ""

    @classmethod
    def show(cls, ctx: Context, params: Params) -> str:
        return t(cls.prompt, ctx.lang)

    @classmethod
    def answer(cls, ctx: Context, params: Params, value: str) -> Go | Again:
        if not NAME.match(value):
            return Again(t("bad_name", ctx.lang))
        ctx.data[cls.key] = value.strip()
        return Go(cls.then)


@screen("reg_first")
class RegFirst(NameEntry):
    key, prompt, then = "first_name", "ask_first_name", "reg_last"


@screen("reg_last")
class RegLast(NameEntry):
    key, prompt, then = "last_name", "ask_last_name", "reg_role"


@screen("reg_role")
class RegRole:
    def show(ctx: Context, params: Params) -> str:
        return t("ask_role", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        picked = choice(value, 2)
        if picked is None:
            return invalid(ctx)
        ctx.data["user_type"] = UserType.EMPLOYER if picked == 1 else UserType.EMPLOYEE
        return Go("reg_pin")


class NewPin:
    """Choose a PIN, then confirm it; `finish` does what the PIN is for."""

    @staticmethod
    def show(ctx: Context, params: Params) -> str:
        return t("ask_pin_again" if params.get("first") else "ask_new_pin", ctx.lang)

    @classmethod
    def answer(cls, ctx: Context, params: Params, value: str) -> Go | Again | End:
        if not re.fullmatch(r"\d{4}", value):
            return Again(t("bad_pin_format", ctx.lang))
        if not params.get("first"):
            params["first"] = value  # the same screen asks again, to confirm
            return Again("")
        if params.pop("first") != value:
            return Again(t("pins_differ", ctx.lang))
        return cls.finish(ctx, value)


@screen("reg_pin", back=False)
class RegPin(NewPin):
    @staticmethod
    def show(ctx: Context, params: Params) -> str:
        if params.get("first"):
            return t("ask_pin_again", ctx.lang)
        return t("ask_new_pin", ctx.lang) + "\n" + t("or_sms_pin", ctx.lang)

    @classmethod
    def answer(cls, ctx: Context, params: Params, value: str) -> Go | Again | End:
        if value == "0" and not params.get("first"):
            return cls.finish(ctx, None)
        return super().answer(ctx, params, value)

    @staticmethod
    def finish(ctx: Context, pin: str | None) -> End:
        try:
            user = ussd_register(
                phone_number=ctx.phone,
                user_type=ctx.data["user_type"],
                first_name=ctx.data["first_name"],
                last_name=ctx.data["last_name"],
                language=ctx.state.get("lang", "en"),
                pin=pin,
            )
        except DomainError as exc:
            return failure(ctx, exc)
        key = "registered" if pin else "registered_sms"
        return End(t(key, user.language, name=short(user.first_name, 20)))


# --- homes and settings ------------------------------------------------------------------------


@screen("home_employer", back=False)
class EmployerHome:
    def show(ctx: Context, params: Params) -> str:
        return t("home_employer", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | End | Again:
        match choice(value, 4):
            case 1:
                return Go("my_jobs", {"page": 0})
            case 2:
                return Go("settings")
            case 3:
                return End(t("help", ctx.lang))
            case 4:
                return Go("my_money", {"page": 0})
        return invalid(ctx)


@screen("home_employee", back=False)
class EmployeeHome:
    def show(ctx: Context, params: Params) -> str:
        return t("home_employee", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | End | Again:
        match choice(value, 5):
            case 1:
                return Go("open_jobs", {"page": 0})
            case 2:
                return Go("worker_jobs", {"page": 0})
            case 3:
                return End(payouts_text(ctx))
            case 4:
                return Go("settings")
            case 5:
                return End(t("help", ctx.lang))
        return invalid(ctx)


def payouts_text(ctx: Context) -> str:
    payouts = MobileMoneyPayout.objects.filter(paid_to=ctx.user, recipient="employee").order_by(
        "-created_at"
    )[:4]
    if not payouts:
        return t("no_payouts", ctx.lang)
    return "\n".join(
        t(
            "payout_line",
            ctx.lang,
            amount=p.amount,
            status=status_word(p.status, ctx.lang),
            date=describe.day(p.created_at),
        )
        for p in payouts
    )


@screen("settings")
class Settings:
    def show(ctx: Context, params: Params) -> str:
        return t("settings", ctx.lang) + "\n" + t("nav", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        match choice(value, 3):
            case 1:
                return Go("language")
            case 2:
                return Go("old_pin")
            case 3:
                pins.pin_reset_start(user=ctx.user)
                return Go("reset_code")
        return invalid(ctx)


@screen("reset_code", back=False)
class ResetCode:
    def show(ctx: Context, params: Params) -> str:
        return t("ask_reset_code", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | End:
        if pins.pin_reset_verify(user=ctx.user, code=value):
            return Go("new_pin")
        return End(t("bad_reset_code", ctx.lang))


@screen("language")
class Language:
    def show(ctx: Context, params: Params) -> str:
        return t("choose_language", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        picked = choice(value, 2)
        if picked is None:
            return invalid(ctx)
        ctx.user.language = "en" if picked == 1 else "sw"
        ctx.user.save(update_fields=["language"])
        return End(t("language_set", ctx.user.language))


class PinGate:
    """Asks for the current PIN; `passed` says what happens when it is right."""

    @staticmethod
    def answer_pin(ctx: Context, value: str) -> bool | End | Again:
        try:
            if pins.pin_check(user_id=ctx.user.pk, pin=value):
                return True
        except pins.PinLocked:
            return End(t("pin_locked", ctx.lang))
        ctx.user.refresh_from_db()
        if ctx.user.pin_locked_until:
            return End(t("pin_locked", ctx.lang))
        left = pins.MAX_ATTEMPTS - ctx.user.pin_failed_attempts
        return Again(t("wrong_pin", ctx.lang, left=left))


@screen("old_pin", back=False)
class OldPin(PinGate):
    def show(ctx: Context, params: Params) -> str:
        return t("ask_old_pin", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | End | Again:
        passed = PinGate.answer_pin(ctx, value)
        return Go("new_pin") if passed is True else passed


@screen("new_pin", back=False)
class ChangePin(NewPin):
    @staticmethod
    def finish(ctx: Context, pin: str) -> End:
        pins.pin_set(user_id=ctx.user.pk, pin=pin)
        return End(t("pin_changed", ctx.lang))


# --- jobs --------------------------------------------------------------------------------------


def paged(
    ctx: Context, qs: object, params: Params, line: object, *, size: int = PAGE
) -> tuple[str, list[int]]:
    start = params["page"] * size
    page = list(qs[start : start + size + 1])
    more = len(page) > size
    page = page[:size]
    params["ids"] = [item.pk for item in page]
    return menu([line(item) for item in page], ctx, more=more), params["ids"]


def pick(ctx: Context, params: Params, value: str) -> int | Go | Again:
    """The id picked from a paged list, or the next page, or a complaint."""
    if value == "9":
        return Go(ctx.state["stack"][-1][0], {"page": params["page"] + 1})
    picked = choice(value, len(params.get("ids", [])))
    return params["ids"][picked - 1] if picked else invalid(ctx)


def open_picked(ctx: Context, params: Params, value: str, target: str) -> Go | Again:
    picked = pick(ctx, params, value)
    return Go(target, {"job_id": picked}) if isinstance(picked, int) else picked


def job_line(ctx: Context, job: JobListing) -> str:
    return f"{short(job.title, 18)} ({status_word(job.status, ctx.lang)})"


def picked_action(ctx: Context, params: Params, value: str, offered: list[str]) -> str | Again:
    """The action picked from those the screen showed, if the job still offers it (the other
    party may have acted in between: the screen is shown again as it now is)."""
    shown = params.get("actions", [])
    picked = choice(value, len(shown))
    if picked is None:
        return invalid(ctx)
    if shown[picked - 1] not in offered:
        return Again(t("job_changed", ctx.lang))
    return shown[picked - 1]


@screen("my_jobs")
class MyJobs:
    def show(ctx: Context, params: Params) -> str:
        qs = job_selectors.jobs_posted_by(ctx.user)
        if not qs.exists():
            return t("no_jobs", ctx.lang) + "\n" + t("nav", ctx.lang)
        return paged(ctx, qs, params, lambda job: job_line(ctx, job))[0]

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        return open_picked(ctx, params, value, "employer_job")


@screen("employer_job")
class EmployerJob:
    def show(ctx: Context, params: Params) -> str:
        job = owned(ctx, params["job_id"])
        params["actions"] = describe.employer_actions(job)
        return (
            describe.employer_job_text(job, ctx.lang)
            + "\n"
            + menu(describe.actions_menu(params["actions"], ctx.lang), ctx)
        )

    def answer(ctx: Context, params: Params, value: str) -> Go | End | Again:
        job = owned(ctx, params["job_id"])
        escrow = job.escrow
        action = picked_action(ctx, params, value, describe.employer_actions(job))
        match action:
            case "how_to_pay":
                if escrow.remaining_amount <= 0:
                    return End(t("nothing_owed", ctx.lang))
                return End(
                    t(
                        "how_to_pay",
                        ctx.lang,
                        paybill=settings.MPESA_SHORTCODE,
                        account=escrow.contract_id,
                        amount=escrow.remaining_amount,
                    )
                )
            case "stk":
                try:
                    prompt = stk_request(escrow=escrow, user=ctx.user, phone_number=ctx.phone)
                except DomainError as exc:
                    return failure(ctx, exc)
                return End(t("stk_sent", ctx.lang, amount=prompt.amount))
            case "applicants":
                return Go("applicants", {"job_id": job.pk})
            case "complete":
                return Go("release_pin", {"job_id": job.pk})
            case "dispute":
                return Go("dispute_reason", {"job_id": job.pk})
            case "note":
                return Go("dispute_note", {"job_id": job.pk})
        return action


def owned(ctx: Context, job_id: int) -> JobListing:
    return job_selectors.jobs_posted_by(ctx.user).get(pk=job_id)


def workers_jobs(worker: User) -> QuerySet[JobListing]:
    """The jobs a worker applied for or was given."""
    return (
        job_selectors.jobs_visible_to(worker)
        .filter(Q(applications__employee=worker) | Q(employee=worker))
        .distinct()
    )


def party_job(ctx: Context, job_id: int) -> JobListing:
    """A job of the caller's: posted by them, or one they applied for or were given."""
    if ctx.user.is_employer:
        return owned(ctx, job_id)
    return workers_jobs(ctx.user).get(pk=job_id)


@screen("applicants")
class Applicants:
    def show(ctx: Context, params: Params) -> str:
        applications = list(job_selectors.job_applications(job=owned(ctx, params["job_id"]))[:5])
        params["ids"] = [a.employee_id for a in applications]
        if not applications:
            return t("no_applicants", ctx.lang) + "\n" + t("nav", ctx.lang)
        return menu([short(a.employee.get_full_name(), 24) for a in applications], ctx)

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        picked = choice(value, len(params.get("ids", [])))
        if picked is None:
            return invalid(ctx)
        return Go(
            "confirm_assign", {"job_id": params["job_id"], "employee_id": params["ids"][picked - 1]}
        )


@screen("confirm_assign")
class ConfirmAssign:
    def show(ctx: Context, params: Params) -> str:
        return (
            t("confirm_assign", ctx.lang, name=applicant_name(params)) + "\n" + t("nav", ctx.lang)
        )

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        if value != "1":
            return invalid(ctx)
        try:
            workflows.job_assign(job_id=params["job_id"], employee_id=params["employee_id"])
        except DomainError as exc:
            return failure(ctx, exc)
        return End(t("assigned", ctx.lang, name=applicant_name(params)))


def applicant_name(params: Params) -> str:
    return short(User.objects.get(pk=params["employee_id"]).get_full_name(), 24)


@screen("release_pin", back=False)
class ReleasePin(PinGate):
    def show(ctx: Context, params: Params) -> str:
        job = owned(ctx, params["job_id"])
        return t(
            "ask_pin_release",
            ctx.lang,
            amount=job.escrow.amount,
            name=short(job.employee.get_full_name(), 24),
        )

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        passed = PinGate.answer_pin(ctx, value)
        if passed is not True:
            return passed
        job = owned(ctx, params["job_id"])
        try:
            workflows.job_complete(job_id=job.pk)
        except DomainError as exc:
            return failure(ctx, exc)
        return End(
            t(
                "released",
                ctx.lang,
                amount=job.escrow.amount,
                name=short(job.employee.get_full_name(), 24),
            )
        )


@screen("open_jobs")
class OpenJobs:
    def show(ctx: Context, params: Params) -> str:
        qs = JobListing.objects.filter(status=JobStatus.OPEN).order_by("-created_at", "-id")
        if not qs.exists():
            return t("no_open_jobs", ctx.lang) + "\n" + t("nav", ctx.lang)
        return paged(ctx, qs, params, lambda job: f"{short(job.title, 18)} KES {job.budget}")[0]

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        return open_picked(ctx, params, value, "open_job")


@screen("open_job")
class OpenJob:
    def show(ctx: Context, params: Params) -> str:
        job = JobListing.objects.select_related("escrow").get(pk=params["job_id"])
        secured = t("yes" if job.escrow.remaining_amount <= 0 else "no", ctx.lang)
        return (
            t("job_open", ctx.lang, title=short(job.title, 40), amount=job.budget, secured=secured)
            + "\n"
            + t("nav", ctx.lang)
        )

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        if value != "1":
            return invalid(ctx)
        try:
            jobs.job_apply(job_id=params["job_id"], employee=ctx.user)
        except DomainError as exc:
            return failure(ctx, exc)
        return End(t("applied", ctx.lang))


@screen("worker_jobs")
class WorkerJobs:
    def show(ctx: Context, params: Params) -> str:
        qs = workers_jobs(ctx.user)
        if not qs.exists():
            return t("no_jobs", ctx.lang) + "\n" + t("nav", ctx.lang)
        return paged(
            ctx, qs, params, lambda job: describe.worker_job_line(job, ctx.user, ctx.lang)
        )[0]

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        return open_picked(ctx, params, value, "worker_job")


@screen("worker_job")
class WorkerJob:
    def show(ctx: Context, params: Params) -> str:
        job = party_job(ctx, params["job_id"])
        params["actions"] = describe.worker_actions(job, ctx.user)
        return (
            describe.worker_job_text(job, ctx.user, ctx.lang)
            + "\n"
            + menu(describe.actions_menu(params["actions"], ctx.lang), ctx)
        )

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        job = party_job(ctx, params["job_id"])
        action = picked_action(ctx, params, value, describe.worker_actions(job, ctx.user))
        match action:
            case "deliver":
                return Go("deliver_pin", {"job_id": job.pk})
            case "dispute":
                return Go("dispute_reason", {"job_id": job.pk})
            case "note":
                return Go("dispute_note", {"job_id": job.pk})
        return action


# --- delivering and disputing ------------------------------------------------------------------


@screen("deliver_pin", back=False)
class DeliverPin:
    def show(ctx: Context, params: Params) -> str:
        job = party_job(ctx, params["job_id"])
        return t("ask_pin_deliver", ctx.lang, title=short(job.title, 30))

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        passed = PinGate.answer_pin(ctx, value)
        if passed is not True:
            return passed
        try:
            job = jobs.job_deliver(job_id=params["job_id"], employee=ctx.user)
        except DomainError as exc:
            return failure(ctx, exc)
        job = party_job(ctx, job.pk)
        return End(
            t(
                "delivered",
                ctx.lang,
                held=job.escrow.held_amount,
                date=describe.when(job.auto_release_at),
            )
        )


def free_text(value: str) -> str | None:
    """What someone typed on a keypad, if it says something: 3 to 160 characters."""
    text = " ".join(value.split())
    return text if 3 <= len(text) <= 160 else None


@screen("dispute_reason")
class DisputeReason:
    """A few common reasons to pick (typing is hard on a keypad), or "other" to type one."""

    def show(ctx: Context, params: Params) -> str:
        reasons = DISPUTE_REASONS[ctx.user.user_type] + ["reason_other"]
        return (
            t("ask_dispute_reason", ctx.lang)
            + "\n"
            + menu([t(reason, ctx.lang) for reason in reasons], ctx)
        )

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        reasons = DISPUTE_REASONS[ctx.user.user_type]
        picked = choice(value, len(reasons) + 1)
        if picked is None:
            return invalid(ctx)
        if picked > len(reasons):
            return Go("dispute_other", {"job_id": params["job_id"]})
        # The arbiter reads the reason in English, whichever language it was picked in.
        reason = t(reasons[picked - 1], "en")
        return Go("dispute_pin", {"job_id": params["job_id"], "reason": reason})


@screen("dispute_other")
class DisputeOther:
    def show(ctx: Context, params: Params) -> str:
        return t("ask_dispute_text", ctx.lang) + "\n" + t("nav", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        reason = free_text(value)
        if reason is None:
            return Again(t("bad_text", ctx.lang))
        return Go("dispute_pin", {"job_id": params["job_id"], "reason": reason})


@screen("dispute_pin", back=False)
class DisputePin:
    def show(ctx: Context, params: Params) -> str:
        job = party_job(ctx, params["job_id"])
        return t("ask_pin_dispute", ctx.lang, title=short(job.title, 30))

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        passed = PinGate.answer_pin(ctx, value)
        if passed is not True:
            return passed
        job = party_job(ctx, params["job_id"])
        try:
            workflows.job_dispute(job_id=job.pk, user=ctx.user, reason=params["reason"])
        except DomainError as exc:
            return failure(ctx, exc)
        return End(t("dispute_raised", ctx.lang))


@screen("dispute_note")
class DisputeNote:
    """Either party's side of an open dispute, for the arbiter."""

    def show(ctx: Context, params: Params) -> str:
        return t("ask_note", ctx.lang) + "\n" + t("nav", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> End | Again:
        text = free_text(value)
        if text is None:
            return Again(t("bad_text", ctx.lang))
        job = party_job(ctx, params["job_id"])
        try:
            workflows.dispute_message_add(job_id=job.pk, author=ctx.user, text=text)
        except DomainError as exc:
            return failure(ctx, exc)
        return End(t("note_sent", ctx.lang))


# --- the employer's money ----------------------------------------------------------------------


@screen("my_money")
class MyMoney:
    """What the employer's escrows still hold, what is theirs again but not yet sent, and the
    money sent back to them (refunds, surpluses, dispute shares), newest first."""

    def show(ctx: Context, params: Params) -> str:
        money = employer_money(ctx.user)
        lines = [t("money_held", ctx.lang, amount=money.held)]
        if money.coming > 0:
            lines.append(t("money_coming", ctx.lang, amount=money.coming))
        if not money.payouts.exists():
            params["ids"] = []
            return "\n".join([*lines, t("money_none", ctx.lang), t("nav", ctx.lang)])
        size = PAGE if len(lines) == 1 else PAGE - 1  # the screen has room for one line less
        listing = paged(
            ctx,
            money.payouts,
            params,
            lambda payout: describe.payout_line(payout, ctx.lang),
            size=size,
        )[0]
        return "\n".join([*lines, listing])

    def answer(ctx: Context, params: Params, value: str) -> Go | Again:
        picked = pick(ctx, params, value)
        return Go("money_payout", {"payout_id": picked}) if isinstance(picked, int) else picked


@screen("money_payout")
class MoneyPayout:
    def show(ctx: Context, params: Params) -> str:
        payout = employer_money(ctx.user).payouts.get(pk=params["payout_id"])
        return describe.payout_text(payout, ctx.lang) + "\n" + t("nav", ctx.lang)

    def answer(ctx: Context, params: Params, value: str) -> Again:
        return invalid(ctx)
