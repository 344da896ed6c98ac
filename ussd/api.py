"""Africa's Talking USSD callback: form fields in, `CON ...`/`END ...` plain text out."""

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User, UserType
from accounts.phones import InvalidPhoneNumber, normalise_phone
from accounts.serializers import PhoneNumberField, UserOutputSerializer
from kazi.errors import DomainError
from kazi.serializers import StrictInputSerializer
from ussd import screens  # noqa: F401 - registers the screens
from ussd.engine import handle
from ussd.screens import home_screen
from ussd.services import ussd_register
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


class GatewayKey(BasePermission):
    """An external USSD gateway proves itself with the shared key in X-API-Key."""

    def has_permission(self, request: Request, view: object) -> bool:
        expected = settings.USSD_GATEWAY_API_KEY
        given = request.headers.get("X-API-Key", "")
        return bool(expected) and hmac.compare_digest(given, expected)


class RegisterCallbackInput(StrictInputSerializer):
    phone_number = PhoneNumberField(max_length=20)
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    user_type = serializers.ChoiceField(choices=UserType.choices)
    language = serializers.ChoiceField(choices=["en", "sw"], default="en")

    def validate_phone_number(self, value: str) -> str:
        if User.objects.filter(phone_number=value).exists():
            raise serializers.ValidationError("An account with this phone number already exists.")
        return value


class UssdRegisterCallbackApi(APIView):
    """For a USSD gateway that collected a new user's details itself: creates the user (the same
    as any registration), generates their PIN and sends it by SMS."""

    authentication_classes = []
    permission_classes = [GatewayKey]

    @extend_schema(
        request=RegisterCallbackInput,
        responses={201: UserOutputSerializer},
        examples=[
            OpenApiExample(
                "New worker",
                request_only=True,
                value={
                    "phone_number": "0722000111",
                    "first_name": "Otieno",
                    "last_name": "Odhiambo",
                    "user_type": "employee",
                    "language": "sw",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = RegisterCallbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = ussd_register(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)
