"""The pages' own middleware; the API, the callbacks, USSD and the admin pass through untouched."""

from collections.abc import Callable
from urllib.parse import urlparse

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers

NOT_PAGES = ("/api/", "/admin/", "/static/")


def is_page(request: HttpRequest) -> bool:
    return not request.path_info.startswith(NOT_PAGES)


class GZipTextMiddleware(GZipMiddleware):
    """Django's GZipMiddleware for the pages and their text assets, for a 3G phone's first load:
    HTML, and the CSS, JavaScript and SVG that whitenoise serves uncompressed when it finds them
    in the apps (the embedded default, DEBUG on; collectstatic's .gz copies already carry their
    Content-Encoding, which GZipMiddleware leaves alone). The API's and the providers' answers
    stay as they were."""

    COMPRESSED_TYPES = ("text/html", "text/css", "text/javascript", "application/javascript",
                        "image/svg+xml")  # fmt: skip

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not response.get("Content-Type", "").startswith(self.COMPRESSED_TYPES):
            return response
        etag = response.get("ETag")
        response = super().process_response(request, response)
        if etag and request.path_info.startswith(static_prefix()):
            # Whitenoise's own: one ETag for every encoding, as for its .gz copies. Made weak,
            # it would never match again and every repeat visit would download it all.
            response["ETag"] = etag
        return response


def static_prefix() -> str:
    return "/" + urlparse(settings.STATIC_URL).path.lstrip("/")


def page_language(request: HttpRequest) -> str:
    """A logged-in user's own language (their SMS and USSD are in it too), else the language
    cookie, else the browser's, else English."""
    user = getattr(request, "user", None)
    languages = dict(settings.LANGUAGES)
    if user is not None and user.is_authenticated and user.language in languages:
        return user.language
    return translation.get_language_from_request(request)


class WebLanguageMiddleware:
    """Django's LocaleMiddleware, for the pages only, after authentication (user.language)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_page(request):
            return self.get_response(request)
        language = page_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()  # a thread's next request (the API's) starts in English
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response
