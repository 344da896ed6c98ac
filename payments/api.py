"""M-Pesa callbacks. Each is stored raw before anything trusts it, checked (source address, URL
token), parsed, and answered in Daraja's format."""

import hmac
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escrow.models import EscrowContract
from escrow.references import normalise_reference
from payments import deposits, payouts, reversals, stk
from payments.callback_security import mpesa_callback_refusal, source_address
from payments.daraja.client import result_parameters
from payments.models import MobileMoneyPayout, ProviderCallback, StkPushRequest
from payments.providers import intasend, mpesa_b2c
from payments.providers.base import PayoutResult
from payments.providers.intersend import outcome, signature_valid
from payments.selectors import payout_by_tracking_id
from payments.serializers import (
    B2CEnvelopeSerializer,
    C2BPaymentSerializer,
    ReversalEnvelopeSerializer,
    StkEnvelopeSerializer,
)

log = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
DARAJA_ANSWERS = {
    200: OpenApiResponse(description="Daraja acknowledgement"),
    400: OpenApiResponse(description="Unreadable payload, in Daraja's format"),
    403: OpenApiResponse(description="Source address or URL token not allowed"),
}
C2B_EXAMPLE = OpenApiExample(
    "Pay Bill payment",
    request_only=True,
    value={
        "TransactionType": "Pay Bill",
        "TransID": "RKTQDM7W6S",
        "TransTime": "20261123101500",
        "TransAmount": "1500.00",
        "BusinessShortCode": "600000",
        "BillRefNumber": "ESCROW_7KQ2M9XD",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "Wanjiku",
    },
)


def acknowledged_by_daraja(request: type[serializers.Serializer]) -> Callable[[type], type]:
    """The schema of a Daraja result callback: its payload in, Daraja's acknowledgement out."""
    return extend_schema_view(
        post=extend_schema(
            request=request,
            responses=DARAJA_ANSWERS,
            examples=[OpenApiExample("Accepted", response_only=True, value=ACCEPTED)],
        )
    )


def daraja_answer(code: str | int, description: str, http_status: int = 200) -> Response:
    return Response({"ResultCode": code, "ResultDesc": description}, status=http_status)


class ProviderCallbackApi(APIView):
    """Called by a provider: no user, no throttle; each subclass checks who is calling."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []


class DarajaCallbackApi(ProviderCallbackApi):
    """Store, check, parse; subclasses say what the payload means."""

    kind: str
    serializer_class: type[serializers.Serializer]
    bad_field_codes: dict[str, str] = {}

    def post(self, request: Request) -> Response:
        address = source_address(request)
        callback = deposits.callback_store(
            kind=self.kind, body=request._request.body, remote_addr=address
        )
        if refusal := mpesa_callback_refusal(request, address):
            deposits.callback_outcome(callback, f"rejected: {refusal}")
            log.warning("M-Pesa %s callback refused: %s", self.kind, refusal)
            return daraja_answer("C2B00016", "Rejected", status.HTTP_403_FORBIDDEN)
        try:
            payload = json.loads(callback.body)
        except ValueError:
            deposits.callback_outcome(callback, "rejected: malformed JSON")
            return daraja_answer("C2B00016", "Malformed JSON", status.HTTP_400_BAD_REQUEST)
        data = self.serializer_class(data=payload)
        if not data.is_valid():
            errors = data.errors if isinstance(data.errors, dict) else {}
            deposits.callback_outcome(callback, f"rejected: {json.dumps(errors)[:180]}")
            code = next((c for f, c in self.bad_field_codes.items() if f in errors), "C2B00016")
            return daraja_answer(code, "Rejected: " + ", ".join(errors), 400)
        with transaction.atomic():  # one commit for the effect and its record
            outcome, response = self.process(data.validated_data, callback)
            deposits.callback_outcome(callback, outcome)
        return response

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        raise NotImplementedError


@extend_schema_view(
    post=extend_schema(
        request=C2BPaymentSerializer,
        responses=DARAJA_ANSWERS,
        examples=[C2B_EXAMPLE, OpenApiExample("Accepted", response_only=True, value=ACCEPTED)],
    )
)
class MpesaC2BConfirmationApi(DarajaCallbackApi):
    """Safaricom tells us money arrived on our Pay Bill. The money has moved already, so anything
    we can read is recorded (unknown references are kept as unmatched), once per TransID."""

    kind = ProviderCallback.Kind.MPESA_C2B_CONFIRMATION
    serializer_class = C2BPaymentSerializer
    bad_field_codes = {"TransAmount": "C2B00013"}

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        payment = deposits.ReceivedPayment(
            trans_id=data["TransID"],
            amount=data["TransAmount"],
            bill_ref_number=data.get("BillRefNumber", ""),
            msisdn=data.get("MSISDN", ""),
            payer_name=" ".join(
                data.get(part, "") for part in ("FirstName", "MiddleName", "LastName")
            ).strip(),
            trans_time=data.get("TransTime", ""),
        )
        deposit = deposits.deposit_record(payment=payment, callback=callback)
        return deposits.deposit_summary(deposit), Response(ACCEPTED)


@extend_schema_view(
    post=extend_schema(
        request=C2BPaymentSerializer,
        responses=DARAJA_ANSWERS,
        examples=[
            C2B_EXAMPLE,
            OpenApiExample(
                "Accept", response_only=True, value={"ResultCode": "0", "ResultDesc": "Accepted"}
            ),
            OpenApiExample(
                "Unknown account",
                response_only=True,
                value={"ResultCode": "C2B00012", "ResultDesc": "Rejected"},
            ),
        ],
    )
)
class MpesaC2BValidationApi(DarajaCallbackApi):
    """Before M-Pesa completes a Pay Bill payment it asks whether to accept it: we refuse an
    unknown account (C2B00012) and an amount the escrow does not need (C2B00013)."""

    kind = ProviderCallback.Kind.MPESA_C2B_VALIDATION
    serializer_class = C2BPaymentSerializer
    bad_field_codes = {"TransAmount": "C2B00013"}

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        reference = normalise_reference(data.get("BillRefNumber", ""))
        escrow = EscrowContract.objects.filter(contract_id=reference).first()
        if escrow is None:
            return "rejected: unknown account", daraja_answer("C2B00012", "Rejected")
        amount, owed = data["TransAmount"], escrow.remaining_amount
        # M-Pesa moves whole shillings: a budget with cents is met by rounding up.
        if amount < 1 or amount > math.ceil(owed):
            return (
                f"rejected: KES {amount} for {escrow} which needs {owed}",
                daraja_answer("C2B00013", "Rejected"),
            )
        return f"accepted for {escrow}", daraja_answer("0", "Accepted")


def _metadata(callback: dict) -> dict[str, Any]:
    items = callback.get("CallbackMetadata", {}).get("Item", [])
    return {item["Name"]: item.get("Value") for item in items}


@extend_schema_view(
    post=extend_schema(
        request=StkEnvelopeSerializer,
        responses=DARAJA_ANSWERS,
        examples=[
            OpenApiExample(
                "Paid",
                request_only=True,
                value={
                    "Body": {
                        "stkCallback": {
                            "MerchantRequestID": "29115-34620561-1",
                            "CheckoutRequestID": "ws_CO_191220191020363925",
                            "ResultCode": 0,
                            "ResultDesc": "The service request is processed successfully.",
                            "CallbackMetadata": {
                                "Item": [
                                    {"Name": "Amount", "Value": 1500.0},
                                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                                    {"Name": "TransactionDate", "Value": 20261123102115},
                                    {"Name": "PhoneNumber", "Value": 254712345678},
                                ]
                            },
                        }
                    }
                },
            ),
            OpenApiExample("Accepted", response_only=True, value=ACCEPTED),
        ],
    )
)
class MpesaStkCallbackApi(DarajaCallbackApi):
    """The outcome of an STK push prompt, once per CheckoutRequestID."""

    kind = ProviderCallback.Kind.MPESA_STK
    serializer_class = StkEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Body"]["stkCallback"]
        checkout_id = result["CheckoutRequestID"]
        if not StkPushRequest.objects.filter(checkout_request_id=checkout_id).exists():
            return (
                f"rejected: unknown CheckoutRequestID {checkout_id}",
                daraja_answer("1", "Unknown CheckoutRequestID", status.HTTP_404_NOT_FOUND),
            )
        meta = _metadata(result)
        try:
            amount = stk.parse_amount(meta.get("Amount"))
        except ValueError:
            return "rejected: bad Amount", daraja_answer("C2B00013", "Rejected", 400)
        request = stk.stk_apply_result(
            checkout_request_id=checkout_id,
            result_code=str(result["ResultCode"]),
            receipt_number=str(meta.get("MpesaReceiptNumber") or "")[:20],
            amount=amount,
            payer=str(meta.get("PhoneNumber") or ""),
        )
        return f"{checkout_id}: {request.status} ({request.result_message})", Response(ACCEPTED)


@acknowledged_by_daraja(ReversalEnvelopeSerializer)
class MpesaReversalResultApi(DarajaCallbackApi):
    """Daraja's verdict on a reversal we asked for."""

    kind = ProviderCallback.Kind.MPESA_REVERSAL
    serializer_class = ReversalEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        reversal = reversals.reversal_apply_result(
            conversation_id=result["ConversationID"],
            result_code=result["ResultCode"],
            message=result.get("ResultDesc", ""),
        )
        if reversal is None:
            return "rejected: unknown ConversationID", daraja_answer("1", "Unknown", 404)
        return f"reversal of {reversal.deposit}: {reversal.status}", Response(ACCEPTED)


class MpesaReversalTimeoutApi(MpesaReversalResultApi):
    """Daraja queued the reversal too long; the outcome is unknown, so nothing changes: it is
    kept on record and the reversal stays submitted for an operator to check."""

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        return f"timeout for {data['Result']['ConversationID']}", Response(ACCEPTED)


class TransactionStatusResultSerializer(serializers.Serializer):
    Result = serializers.DictField()


@acknowledged_by_daraja(TransactionStatusResultSerializer)
class MpesaTransactionStatusResultApi(DarajaCallbackApi):
    """The answer to a Transaction Status query (reconciliation of reversals)."""

    kind = ProviderCallback.Kind.MPESA_REVERSAL
    serializer_class = TransactionStatusResultSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        values = result_parameters(result)
        trans_id = str(values.get("ReceiptNo") or result.get("TransactionID") or "")
        status_text = str(values.get("TransactionStatus", ""))
        reversal = reversals.reversal_apply_status(
            trans_id=trans_id, transaction_status=status_text
        )
        outcome = f"status of {trans_id}: {status_text}" + (
            f"; reversal {reversal.status}" if reversal else ""
        )
        return outcome, Response(ACCEPTED)


@acknowledged_by_daraja(B2CEnvelopeSerializer)
class MpesaB2CResultApi(DarajaCallbackApi):
    """M-Pesa's verdict on a B2C payout, keyed by our reference as OriginatorConversationID;
    repeated or late verdicts never change a decided outcome."""

    kind = ProviderCallback.Kind.MPESA_B2C
    serializer_class = B2CEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        return self.apply(result["OriginatorConversationID"], mpesa_b2c.result_outcome(result))

    @staticmethod
    def apply(reference: str, result: PayoutResult) -> tuple[str, Response]:
        if not MobileMoneyPayout.objects.filter(reference=reference).exists():
            return (
                f"rejected: unknown payout {reference!r}",
                daraja_answer("1", "Unknown OriginatorConversationID", status.HTTP_404_NOT_FOUND),
            )
        payout = payouts.payout_apply_result(reference=reference, result=result)
        return f"{reference}: {payout.status}", Response(ACCEPTED)


class MpesaB2CTimeoutApi(MpesaB2CResultApi):
    """The B2C request (or a status query) timed out in Daraja's queue: the outcome is unknown,
    so nothing changes; the sweep's status query settles the payout."""

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        reference = data["Result"]["OriginatorConversationID"]
        return f"timeout for {reference}: left for the status query", Response(ACCEPTED)


@acknowledged_by_daraja(TransactionStatusResultSerializer)
class MpesaB2CStatusResultApi(MpesaB2CResultApi):
    """The answer to a Transaction Status query about a B2C payout, which names it by the
    Occasion we asked with. A query that found nothing decides nothing: the payout stays in
    flight and is asked about again, never sent again."""

    serializer_class = TransactionStatusResultSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        answer = mpesa_b2c.status_outcome(result)
        outcome, response = self.apply(mpesa_b2c.status_reference(result), answer)
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
        raw = request._request.body
        callback = deposits.callback_store(
            kind=ProviderCallback.Kind.INTERSEND_PAYOUT,
            body=raw,
            remote_addr=source_address(request),
        )
        if not signature_valid(
            settings.INTERSEND_API_SECRET,
            request.headers.get("X-Timestamp", ""),
            request.headers.get("X-Signature", ""),
            raw,
        ):
            deposits.callback_outcome(callback, "rejected: bad signature")
            return Response({"detail": "Bad or missing signature."}, status=401)
        try:
            data = IntersendCallbackSerializer(data=json.loads(raw))
        except ValueError:
            data = None
        if data is None or not data.is_valid():
            deposits.callback_outcome(callback, "rejected: unreadable")
            return Response({"detail": "Unreadable payout status."}, status=400)
        news = data.validated_data
        if not MobileMoneyPayout.objects.filter(reference=news["reference"]).exists():
            deposits.callback_outcome(callback, "rejected: unknown reference")
            return Response({"detail": "Unknown reference."}, status=404)
        payout = payouts.payout_apply_result(reference=news["reference"], result=outcome(news))
        deposits.callback_outcome(callback, f"{payout.reference}: {payout.status}")
        return Response({"received": True})


class IntasendEventSerializer(serializers.Serializer):
    tracking_id = serializers.CharField(max_length=64)
    status_code = serializers.CharField(max_length=10)
    transactions = serializers.ListField(child=serializers.DictField(), min_length=1)


class IntasendPayoutCallbackApi(ProviderCallbackApi):
    """IntaSend's send-money events. The challenge is checked before anything changes; events
    about batches that are not one of our payouts' (tracking ids we never saved, e.g. started on
    the dashboard) are recorded and acknowledged, so IntaSend does not keep retrying them."""

    @extend_schema(
        request=IntasendEventSerializer,
        responses={
            200: OpenApiResponse(description="Received"),
            400: OpenApiResponse(description="Unreadable event"),
            401: OpenApiResponse(description="Wrong or missing challenge"),
        },
    )
    def post(self, request: Request) -> Response:
        callback = deposits.callback_store(
            kind=ProviderCallback.Kind.INTASEND_PAYOUT,
            body=request._request.body,
            remote_addr=source_address(request),
        )
        try:
            event = json.loads(callback.body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            deposits.callback_outcome(callback, "rejected: unreadable")
            return Response({"detail": "Unreadable event."}, status=400)
        if not hmac.compare_digest(
            str(event.get("challenge", "")).encode(), settings.INTASEND_WEBHOOK_CHALLENGE.encode()
        ):
            deposits.callback_outcome(callback, "rejected: wrong challenge")
            return Response({"detail": "Wrong or missing challenge."}, status=401)
        data = IntasendEventSerializer(data=event)
        if not data.is_valid():
            deposits.callback_outcome(callback, "rejected: unreadable")
            return Response({"detail": "Unreadable event."}, status=400)
        tracking_id = data.validated_data["tracking_id"]
        payout = payout_by_tracking_id(tracking_id)
        if payout is None:
            deposits.callback_outcome(callback, f"ignored: unknown tracking_id {tracking_id}")
            return Response({"received": True})
        payout = payouts.payout_apply_result(
            reference=payout.reference, result=intasend.outcome(event)
        )
        deposits.callback_outcome(callback, f"{payout.reference}: {payout.status}")
        return Response({"received": True})
