"""Africa's Talking USSD callback: form fields in, `CON ...`/`END ...` plain text out."""

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.phones import InvalidPhoneNumber, normalise_phone
from kazi.errors import DomainError
from ussd import screens  # noqa: F401 - registers the screens
from ussd.engine import handle
from ussd.screens import home_screen
from ussd.texts import t

log = logging.getLogger(__name__)
MAX_TEXT = 400  # dozens of steps at most; anything longer is not a person typing


def plain(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
@sensitive_post_parameters("text")  # it carries PINs: never in error reports
def ussd_callback(request: HttpRequest) -> HttpResponse:
    session_id = request.POST.get("sessionId", "").strip()[:100]
    text = request.POST.get("text", "")
    try:
        phone = normalise_phone(request.POST.get("phoneNumber", ""))
    except InvalidPhoneNumber:
        return plain("END " + t("error", "en", reason="this service is for Kenyan mobile numbers"))
    if not session_id or len(text) > MAX_TEXT:
        return plain("END " + t("expired", "en"))
    try:
        return plain(handle(session_id=session_id, phone=phone, text=text, home=home_screen))
    except DomainError as exc:
        return plain("END " + t("error", "en", reason=exc.message))
    except Exception:
        log.exception("USSD session %s failed", session_id)  # no request data: it holds PINs
        return plain("END " + t("expired", "en"))
