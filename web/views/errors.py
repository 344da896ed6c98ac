"""Error answers: pages in the app's look for people, JSON for the API as before."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.views.csrf import csrf_failure as django_csrf_failure

from kazi.errors import json_server_error
from web.middleware import is_page
from web.views.base import not_found

log = logging.getLogger(__name__)


def unknown_path(request: HttpRequest, path: str = "") -> HttpResponse:
    """The catch-all for paths no page has (the API's and the admin's keep their own 404)."""
    return not_found(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF token (expired, opened before logging in, cookies off)."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "CSRF check failed.", "code": "csrf_failed"}, status=403)
    if not is_page(request):  # the admin: Django's own page, as before
        return django_csrf_failure(request, reason)
    return render(request, "web/csrf.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the API's JSON, or a page that renders without the database."""
    if not is_page(request):
        return json_server_error(request)
    try:
        return render(request, "web/500.html", status=500)
    except (TemplateDoesNotExist, TemplateSyntaxError):
        log.exception("the 500 page itself failed")
    return HttpResponse(
        "<!doctype html><title>Kazi Trust</title><p>Something went wrong on our side. "
        'Please try again in a minute. <a href="/">Kazi Trust</a>',
        status=500,
    )
