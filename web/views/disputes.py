"""The arbiters' pages: the dispute queue, and one dispute with both sides, the money held and the
decision (escrow.workflows.job_resolve). Staff with the arbiter permission only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from escrow import workflows
from escrow.models import Dispute
from escrow.selectors import dispute_with_messages, disputes_open, disputes_resolved
from kazi.errors import DomainError
from web import forms
from web.errors import explain
from web.templatetags.kazi_web import kes
from web.views.base import page

RESOLVED_SHOWN = 20


def _arbiter_only(request: HttpRequest) -> None:
    if not workflows.can_arbitrate(request.user):
        raise PermissionDenied(_("Only arbiters can see disputes."))


def _dispute(request: HttpRequest, dispute_id: int) -> Dispute:
    _arbiter_only(request)
    dispute = dispute_with_messages(dispute_id)
    if dispute is None:
        raise Http404
    return dispute


@login_required
@page
def dispute_queue(request: HttpRequest) -> HttpResponse:
    _arbiter_only(request)
    context = {
        "open": list(disputes_open()),
        "resolved": list(disputes_resolved()[:RESOLVED_SHOWN]),
    }
    return render(request, "web/disputes.html", context)


def _render_dispute(
    request: HttpRequest, dispute: Dispute, status: int = 200, **bound: object
) -> HttpResponse:
    held = dispute.escrow.held_amount
    context = {
        "dispute": dispute,
        "job": dispute.escrow.job_listing,
        "escrow": dispute.escrow,
        "resolve_form": forms.ResolveForm(initial={"to_employee": held, "to_employer": 0}),
        "message_form": forms.DisputeMessageForm(),
        **bound,
    }
    return render(request, "web/dispute.html", context, status=status)


@login_required
@page
def dispute_detail(request: HttpRequest, dispute_id: int) -> HttpResponse:
    """GET: both sides and the money held; POST: the arbiter's decision."""
    dispute = _dispute(request, dispute_id)
    if request.method != "POST":
        return _render_dispute(request, dispute)
    form = forms.ResolveForm(request.POST)
    if not form.is_valid():
        return _render_dispute(request, dispute, 400, resolve_form=form)
    try:
        workflows.job_resolve(
            job_id=dispute.escrow.job_listing_id, arbiter=request.user, **form.cleaned_data
        )
    except DomainError as exc:
        form.add_error(
            None,
            explain(exc)
            + " "
            + _("It holds %(held)s.") % {"held": kes(dispute.escrow.held_amount)},
        )
        return _render_dispute(request, dispute, exc.status_code, resolve_form=form)
    messages.success(request, _("Decided. Each side is paid its share by M-Pesa."))
    return HttpResponseRedirect(reverse("web:dispute", args=[dispute.pk]))


@require_POST
@login_required
@page
def dispute_note(request: HttpRequest, dispute_id: int) -> HttpResponse:
    """An arbiter's note in the dispute (both sides read it)."""
    dispute = _dispute(request, dispute_id)
    form = forms.DisputeMessageForm(request.POST)
    if not form.is_valid():
        return _render_dispute(request, dispute, 400, message_form=form)
    try:
        job_id, text = dispute.escrow.job_listing_id, form.cleaned_data["text"]
        workflows.dispute_message_add(job_id=job_id, author=request.user, text=text)
    except DomainError as exc:
        form.add_error("text", explain(exc))
        return _render_dispute(request, dispute, exc.status_code, message_form=form)
    messages.success(request, _("Your note is added. Both sides can read it."))
    return HttpResponseRedirect(reverse("web:dispute", args=[dispute.pk]) + "#messages")
