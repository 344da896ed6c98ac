"""Pages anyone may open: the home page, open jobs, public profiles, an escrow's public proof."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from escrow.references import normalise_reference
from escrow.selectors import escrow_by_reference
from jobs import selectors
from web.pages import proof_next
from web.views.base import page

JOBS_PER_PAGE = 20
HOME_JOBS = 5
MAX_SEARCH = 100


@require_GET
@page
def home(request: HttpRequest) -> HttpResponse:
    jobs = selectors.open_jobs()[:HOME_JOBS]
    return render(request, "web/home.html", {"jobs": jobs})


@require_GET
@page
def job_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:MAX_SEARCH]
    jobs = Paginator(selectors.open_jobs(search=search), JOBS_PER_PAGE)
    return render(
        request,
        "web/jobs.html",
        {"jobs": jobs.get_page(request.GET.get("page")), "search": search},
    )


@require_GET
@page
def profile(request: HttpRequest, user_id: int) -> HttpResponse:
    person = selectors.public_profile(user_id)
    if person is None:
        raise Http404
    return render(request, "web/profile.html", {"person": person})


@require_GET
@page
def proof(request: HttpRequest, reference: str) -> HttpResponse:
    """The public proof of one escrow: its state, its amounts, its ledger transactions; no names,
    no phone numbers. The reference is read as M-Pesa reads an account number."""
    canonical = normalise_reference(reference)
    escrow = escrow_by_reference(canonical) if canonical else None
    if escrow is None:
        context = {"typed": reference[:40]}
        return render(request, "web/proof_missing.html", context, status=404)
    explorer = bool(settings.STELLAR_EXPLORER_TX_URL)
    context = {"escrow": escrow, "explorer": explorer, "next": proof_next(escrow)}
    return render(request, "web/proof.html", context)


@require_GET
@page
def proof_lookup(request: HttpRequest) -> HttpResponse:
    """The look-up form's target: /e/?reference=... goes to that escrow's proof page."""
    typed = request.GET.get("reference", "").strip()[:40]
    canonical = normalise_reference(typed)
    if canonical is None:
        return render(request, "web/proof_missing.html", {"typed": typed}, status=404)
    return redirect("web:proof", reference=canonical)
