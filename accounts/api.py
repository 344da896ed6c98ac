from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import services
from accounts.serializers import (
    AuthOutputSerializer,
    LoginInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    UserOutputSerializer,
)
from kazi.errors import DomainError

_AUTH_EXAMPLE = OpenApiExample(
    "Tokens",
    response_only=True,
    value={
        "user": {
            "id": 1,
            "phone_number": "+254712345678",
            "email": "wanjiku@example.com",
            "first_name": "Wanjiku",
            "last_name": "Kamau",
            "user_type": "employer",
            "stellar_account_id": "",
            "date_joined": "2026-11-23T10:00:00+03:00",
        },
        "access": "eyJhbGciOiJIUzI1NiIs...",
        "refresh": "eyJhbGciOiJIUzI1NiIs...",
    },
)


def _auth_response(user: object, status_code: int) -> Response:
    body = {"user": UserOutputSerializer(user).data, **services.user_tokens(user)}
    return Response(body, status=status_code)


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "register"

    @extend_schema(
        request=RegisterInputSerializer,
        responses={201: AuthOutputSerializer},
        examples=[
            OpenApiExample(
                "Employer",
                request_only=True,
                value={
                    "phone_number": "0712345678",
                    "password": "a-long-passphrase",
                    "email": "wanjiku@example.com",
                    "first_name": "Wanjiku",
                    "last_name": "Kamau",
                    "user_type": "employer",
                },
            ),
            _AUTH_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return _auth_response(user, status.HTTP_201_CREATED)


class InvalidCredentials(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "invalid_credentials"


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"

    @extend_schema(
        request=LoginInputSerializer,
        responses={200: AuthOutputSerializer},
        examples=[
            OpenApiExample(
                "By phone",
                request_only=True,
                value={"phone_number": "0712345678", "password": "a-long-passphrase"},
            ),
            OpenApiExample(
                "By email",
                request_only=True,
                value={"email": "wanjiku@example.com", "password": "a-long-passphrase"},
            ),
            _AUTH_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.user_login(
            identifier=data.get("phone_number") or data["email"], password=data["password"]
        )
        if user is None:
            raise InvalidCredentials("No active account matches these credentials.")
        return _auth_response(user, status.HTTP_200_OK)


class RefreshApi(TokenRefreshView):
    serializer_class = RefreshInputSerializer

    @extend_schema(
        examples=[
            OpenApiExample("Refresh", request_only=True, value={"refresh": "eyJhbGciOi..."}),
            OpenApiExample("New access token", response_only=True, value={"access": "eyJhb..."}),
        ]
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().post(request, *args, **kwargs)


class MeApi(APIView):
    @extend_schema(
        responses={200: UserOutputSerializer},
        examples=[OpenApiExample("Me", response_only=True, value=_AUTH_EXAMPLE.value["user"])],
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)
