"""What every page view shares: the app's own 404 and 403 pages (never Django's debug pages, even
with DEBUG on), the viewer's jobs, and redirect-after-post."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from jobs import selectors
from jobs.models import JobListing

View = Callable[..., HttpResponse]


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/404.html", status=404)


def forbidden(request: HttpRequest, text: str = "") -> HttpResponse:
    return render(request, "web/403.html", {"text": text}, status=403)


def page(view: View) -> View:
    """A page view whose 404 and 403 are the app's own pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return not_found(request)
        except PermissionDenied as exc:
            return forbidden(request, str(exc))

    return wrapper


def readable_job(request: HttpRequest, job_id: int) -> JobListing:
    """The job if the viewer may open its page (its public part at least), else 404."""
    job = selectors.jobs_readable_by(request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404
    return job


def to_job(job_id: int, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("web:job", args=[job_id])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def next_url(request: HttpRequest, default: str) -> str:
    """Where a form sent from another page goes back to: `next`, if it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else default
