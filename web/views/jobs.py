"""The job pages: post a job, the job's own page (what each viewer may see and do), its live money
status, and one small view per action. Each action validates its form, calls the service the API
calls, and redirects back to the job (errors beside the field, in the reader's language)."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from escrow import workflows
from jobs import services
from jobs.models import JobListing
from kazi.errors import DomainError
from mpesa.stk import stk_request
from web import forms
from web.errors import explain
from web.pages import job_page
from web.templatetags.kazi_web import kes, local_phone
from web.views.base import page, readable_job, to_job


def _owned_job(request: HttpRequest, job_id: int) -> JobListing:
    """As the API's owned_job: the job if readable (else 404), posted by the viewer (else 403)."""
    job = readable_job(request, job_id)
    if job.employer_id != request.user.pk:
        raise PermissionDenied(_("Only the employer who posted this job can do that."))
    return job


@login_required
@page
def job_new(request: HttpRequest) -> HttpResponse:
    if not request.user.is_employer:
        raise PermissionDenied(
            _("Only employers can post jobs. You signed up as a worker: find work instead.")
        )
    status = 200
    if request.method == "POST":
        form = forms.JobForm(request.POST)
        if form.is_valid():
            try:
                job = workflows.job_create(employer=request.user, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, explain(exc))
            else:
                messages.success(
                    request,
                    _("Your job is posted. Now pay %(amount)s into escrow: workers see it is paid.")
                    % {"amount": kes(job.budget)},
                )
                return to_job(job.pk)
        status = 400
    else:
        form = forms.JobForm()
    return render(request, "web/job_new.html", {"form": form}, status=status)


def _render_job(
    request: HttpRequest, job_id: int, status: int = 200, **bound: object
) -> HttpResponse:
    """The job page, with any forms given bound (and showing their errors); the job read as it
    stands now, for this viewer (404 if they may not open it)."""
    job = readable_job(request, job_id)
    phone = local_phone(request.user.phone_number) if request.user.is_authenticated else ""
    context = {
        "page": job_page(request.user, job),
        "pay_form": forms.PayForm(initial={"phone_number": phone}),
        "apply_form": forms.ApplyForm(),
        "dispute_form": forms.DisputeForm(),
        "message_form": forms.DisputeMessageForm(),
        "rate_form": forms.RateForm(),
        **bound,
    }
    return render(request, "web/job.html", context, status=status)


@require_GET
@page
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    return _render_job(request, job_id)


@require_GET
@page
def job_live(request: HttpRequest, job_id: int) -> HttpResponse:
    """The small part of the job page that htmx polls while money moves. When the job's state
    has changed since the page was drawn, the whole page reloads (HX-Refresh)."""
    job_view = job_page(request.user, readable_job(request, job_id))
    drawn = request.GET.get("v", "")
    if request.htmx and drawn and drawn != job_view.version:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "web/_live.html", {"page": job_view})


def _act(
    request: HttpRequest, job_id: int, call: Callable[[], object], done: str, anchor: str = ""
) -> HttpResponse:
    """A button's action: the service, then back to the job with what happened."""
    try:
        call()
    except DomainError as exc:
        messages.error(request, explain(exc))
    else:
        messages.success(request, done)
    return to_job(job_id, anchor)


def _form_action(
    request: HttpRequest,
    job: JobListing,
    form: object,
    name: str,
    call: Callable[[dict], object],
    done: str,
    anchor: str,
    field: str | None = None,
) -> HttpResponse:
    """A form's action: valid, the service; refused, the page again with the error beside the
    field (or atop the form), in the reader's language."""
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except DomainError as exc:
            form.add_error(field, explain(exc))
            return _render_job(request, job.pk, exc.status_code, **{name: form})
        messages.success(request, done)
        return to_job(job.pk, anchor)
    return _render_job(request, job.pk, 400, **{name: form})


@require_POST
@login_required
@page
def job_pay(request: HttpRequest, job_id: int) -> HttpResponse:
    """Send the M-Pesa payment prompt (STK push) to the phone the employer confirmed."""
    job = _owned_job(request, job_id)
    form = forms.PayForm(request.POST)

    def prompt(data: dict) -> None:
        stk_request(escrow=job.escrow, user=request.user, phone_number=data["phone_number"])

    phone = local_phone(form.cleaned_data["phone_number"]) if form.is_valid() else ""
    done = _("We sent a payment request to %(phone)s. Enter your M-Pesa PIN on that phone.") % {
        "phone": phone
    }
    return _form_action(request, job, form, "pay_form", prompt, done, "money", "phone_number")


@require_POST
@login_required
@page
def job_apply(request: HttpRequest, job_id: int) -> HttpResponse:
    job = readable_job(request, job_id)

    def apply(data: dict) -> None:
        services.job_apply(job_id=job.pk, employee=request.user, message=data["message"])

    done = _("You applied. The employer chooses a worker; we tell you by SMS if it is you.")
    return _form_action(request, job, forms.ApplyForm(request.POST), "apply_form", apply, done, "")


@require_POST
@login_required
@page
def job_assign(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _owned_job(request, job_id)
    form = forms.AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the workers who applied."))
        return to_job(job.pk, "applicants")
    employee_id = form.cleaned_data["employee"]
    done = _("Worker chosen. We told them by SMS.")
    if job.escrow.remaining_amount > 0:
        done += " " + _("Pay into escrow so the work can start.")
    return _act(
        request, job.pk, lambda: workflows.job_assign(job_id=job.pk, employee_id=employee_id), done
    )


@require_POST
@login_required
@page
def job_deliver(request: HttpRequest, job_id: int) -> HttpResponse:
    job = readable_job(request, job_id)
    done = _("We told the employer the work is done. They check it and release the money.")
    return _act(
        request, job.pk, lambda: services.job_deliver(job_id=job.pk, employee=request.user), done
    )


@require_POST
@login_required
@page
def job_complete(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _owned_job(request, job_id)
    done = _("Thank you. The money is being released to the worker's M-Pesa.")
    return _act(request, job.pk, lambda: workflows.job_complete(job_id=job.pk), done, "money")


@require_POST
@login_required
@page
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _owned_job(request, job_id)
    done = _("The job is cancelled. Anything you paid is sent back to your M-Pesa.")
    return _act(request, job.pk, lambda: workflows.job_cancel(job_id=job.pk), done, "money")


@require_POST
@login_required
@page
def job_dispute(request: HttpRequest, job_id: int) -> HttpResponse:
    job = readable_job(request, job_id)

    def dispute(data: dict) -> None:
        workflows.job_dispute(job_id=job.pk, user=request.user, reason=data["reason"])

    done = _("The dispute is raised. The money stays held until an arbiter decides.")
    form = forms.DisputeForm(request.POST)
    return _form_action(request, job, form, "dispute_form", dispute, done, "dispute")


@require_POST
@login_required
@page
def job_dispute_message(request: HttpRequest, job_id: int) -> HttpResponse:
    job = readable_job(request, job_id)

    def add(data: dict) -> None:
        workflows.dispute_message_add(job_id=job.pk, author=request.user, text=data["text"])

    done = _("Added to the dispute. The other side and the arbiter can read it.")
    form = forms.DisputeMessageForm(request.POST)
    return _form_action(request, job, form, "message_form", add, done, "dispute")


@require_POST
@login_required
@page
def job_rate(request: HttpRequest, job_id: int) -> HttpResponse:
    job = readable_job(request, job_id)

    def rate(data: dict) -> None:
        services.job_rate(
            job_id=job.pk, rater=request.user, score=data["score"], comment=data["comment"]
        )

    done = _("Thank you for your rating.")
    return _form_action(request, job, forms.RateForm(request.POST), "rate_form", rate, done, "")
