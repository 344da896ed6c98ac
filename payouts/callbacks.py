"""M-Pesa callbacks. Each is stored raw before anything trusts it, checked (source address, URL
token), parsed, and answered in Daraja's format."""

import hmac
import logging
from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from kazi.bodies import BodyRefused, parse_json
from mpesa.callbacks import (
    ACCEPTED,
    DarajaCallbackApi,
    ProviderCallbackApi,
    Refused,
    acknowledged_by_daraja,
)
from mpesa.daraja.payloads import (
    ResultEnvelopeSerializer,
)
from mpesa.models import ProviderCallback
from payouts import services as payouts
from payouts.models import MobileMoneyPayout
from payouts.providers import intasend, mpesa_b2c
from payouts.providers.base import PayoutKeys, PayoutResult
from payouts.providers.intersend import outcome, signature_valid
from payouts.selectors import payout_by_tracking_id, payout_named_by

log = logging.getLogger(__name__)


@acknowledged_by_daraja(ResultEnvelopeSerializer)
class MpesaB2CResultApi(DarajaCallbackApi):
    """M-Pesa's verdict on a B2C payout, matched by the ids Daraja gave the request and the
    receipt; repeated or late verdicts never change a decided outcome. A verdict about no
    payout of ours is kept and acknowledged: Daraja has nothing to correct by sending it again."""

    kind = ProviderCallback.Kind.MPESA_B2C
    serializer_class = ResultEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        return self.apply(mpesa_b2c.result_keys(result), mpesa_b2c.result_outcome(result))

    @staticmethod
    def apply(keys: PayoutKeys, result: PayoutResult) -> tuple[str, Response]:
        payout = payout_named_by(keys)
        if payout is None:
            return f"unmatched: names no payout of ours ({keys})", Response(ACCEPTED)
        payout = payouts.payout_apply_result(reference=payout.reference, result=result)
        return f"{payout.reference}: {payout.status}", Response(ACCEPTED)


class MpesaB2CTimeoutApi(MpesaB2CResultApi):
    """The B2C request (or a status query) timed out in Daraja's queue: the outcome is unknown,
    so nothing changes; the sweep's status query settles the payout."""

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        keys = mpesa_b2c.result_keys(data["Result"])
        payout = payout_named_by(keys)
        if payout is None:
            return f"timeout naming no payout of ours ({keys})", Response(ACCEPTED)
        return f"timeout for {payout.reference}: left for the status query", Response(ACCEPTED)


class MpesaB2CStatusResultApi(MpesaB2CResultApi):
    """The answer to a Transaction Status query about a B2C payout, which names it in its
    ResultParameters (its own ids are the query's). A query that found nothing decides
    nothing: the payout stays in flight and is asked about again, never sent again."""

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        answer = mpesa_b2c.status_outcome(result)
        outcome, response = self.apply(mpesa_b2c.status_keys(result), answer)
        if answer.outcome == "not_found":
            outcome += f" (M-Pesa found nothing: {answer.reason})"
        return outcome, response


class IntersendCallbackSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=40)
    status = serializers.ChoiceField(choices=["pending", "processing", "completed", "failed"])
    transaction_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    failure_reason = serializers.CharField(required=False, allow_blank=True, max_length=255)


class IntersendPayoutCallbackApi(ProviderCallbackApi):
    """Intersend reports a payout's status. The signature is checked before anything changes;
    late, repeated or out-of-order news never changes a decided outcome."""

    kind = ProviderCallback.Kind.INTERSEND_PAYOUT

    @extend_schema(
        request=IntersendCallbackSerializer,
        responses={
            200: OpenApiResponse(description="Received"),
            401: OpenApiResponse(description="Bad or missing signature"),
        },
        examples=[
            OpenApiExample(
                "Paid",
                request_only=True,
                value={
                    "reference": "PAYOUT_7KQ2M9XD",
                    "status": "completed",
                    "transaction_id": "IS3F9A0B12C4D5",
                    "failure_reason": "",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def handle(
        self, request: Request, raw: bytes, callback: ProviderCallback
    ) -> tuple[str, Response]:
        if not signature_valid(
            settings.INTERSEND_API_SECRET,
            request.headers.get("X-Timestamp", ""),
            request.headers.get("X-Signature", ""),
            raw,
        ):
            raise Refused("rejected: bad signature", 401, "Bad or missing signature.")
        news = self.parse(raw, IntersendCallbackSerializer)
        try:
            payout = payouts.payout_apply_result(reference=news["reference"], result=outcome(news))
        except MobileMoneyPayout.DoesNotExist:
            raise Refused("rejected: unknown reference", 404, "Unknown reference.") from None
        return f"{payout.reference}: {payout.status}", Response({"received": True})


class IntasendEventSerializer(serializers.Serializer):
    """IntaSend's pages show events with a `status_code` and without one (status words only)."""

    tracking_id = serializers.CharField(max_length=64)
    status = serializers.CharField(required=False, allow_blank=True, max_length=100)
    status_code = serializers.CharField(required=False, allow_blank=True, max_length=10)
    transactions = serializers.ListField(child=serializers.DictField(), min_length=1)


class IntasendPayoutCallbackApi(ProviderCallbackApi):
    """IntaSend's send-money events. The challenge is checked before anything changes; events
    about batches that are not one of our payouts' (tracking ids we never saved, e.g. started on
    the dashboard) are recorded and acknowledged, so IntaSend does not keep retrying them."""

    kind = ProviderCallback.Kind.INTASEND_PAYOUT

    @extend_schema(
        request=IntasendEventSerializer,
        responses={
            200: OpenApiResponse(description="Received"),
            400: OpenApiResponse(description="Unreadable event"),
            401: OpenApiResponse(description="Wrong or missing challenge"),
        },
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def handle(
        self, request: Request, raw: bytes, callback: ProviderCallback
    ) -> tuple[str, Response]:
        try:
            event = parse_json(raw)
        except BodyRefused as exc:
            raise Refused(f"rejected: {exc.reason}", 400, "Unreadable event.") from None
        if not isinstance(event, dict):
            raise Refused("rejected: not an object", 400, "Unreadable event.")
        if not hmac.compare_digest(
            str(event.get("challenge", "")).encode(), settings.INTASEND_WEBHOOK_CHALLENGE.encode()
        ):
            raise Refused("rejected: wrong challenge", 401, "Wrong or missing challenge.")
        tracking_id = self.parse(raw, IntasendEventSerializer)["tracking_id"]
        payout = payout_by_tracking_id(tracking_id)
        if payout is None:
            return f"ignored: unknown tracking_id {tracking_id}", Response({"received": True})
        payout = payouts.payout_apply_result(
            reference=payout.reference, result=intasend.outcome(event)
        )
        return f"{payout.reference}: {payout.status}", Response({"received": True})
