from django.db import connection
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escrow.ledger import get_ledger
from kazi.celery import app as celery_app
from mpesa.daraja import sandbox_health
from mpesa.daraja.client import credentials_state


def _check(probe: object) -> str:
    try:
        return probe()
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("select 1")
    return "ok"


def _broker() -> str:
    if celery_app.conf.task_always_eager:
        return "in-process"
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "ledger": serializers.CharField(),
                "broker": serializers.CharField(),
                "mpesa": serializers.CharField(
                    help_text="What Daraja last said of our credentials, without asking it: ok "
                    "(a token is held), untested, or error: credentials refused (code)"
                ),
                "sandbox": serializers.CharField(
                    required=False,
                    help_text="The local stand-ins for Daraja and the payout providers, on the "
                    "embedded default only: ok, or error: why",
                ),
            },
        ),
        examples=[
            OpenApiExample(
                "Embedded default",
                value={
                    "status": "ok",
                    "database": "ok",
                    "ledger": "ok",
                    "broker": "in-process",
                    "mpesa": "ok",
                    "sandbox": "ok",
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        checks = {
            "database": _check(_database),
            "ledger": _check(lambda: get_ledger().health()),
            "broker": _check(_broker),
            "mpesa": _check(credentials_state),
        }
        if (sandbox := sandbox_health()) is not None:
            checks["sandbox"] = sandbox
        healthy = all(not value.startswith("error") for value in checks.values())
        return Response({"status": "ok" if healthy else "degraded", **checks})


class PingApi(APIView):
    """Liveness: answers without touching anything (also the benchmarks' no-op baseline)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses=inline_serializer("Pong", {"pong": serializers.BooleanField()}),
        examples=[OpenApiExample("Pong", value={"pong": True})],
    )
    def get(self, request: Request) -> Response:
        return Response({"pong": True})
