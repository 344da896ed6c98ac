"""M-Pesa callbacks. Each is stored raw before anything trusts it, checked (source address, URL
token), parsed, and answered in Daraja's format."""

import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
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
from kazi.addresses import source_address
from kazi.bodies import BodyRefused, parse_json, read_limited
from mpesa import deposits, reversals, stk, transaction_status
from mpesa.callback_security import mpesa_callback_refusal
from mpesa.daraja.payloads import (
    C2BPaymentSerializer,
    ResultEnvelopeSerializer,
    StkEnvelopeSerializer,
    stk_metadata,
)
from mpesa.models import ProviderCallback, StkPushRequest
from mpesa.payers import mpesa_time

log = logging.getLogger(__name__)
RECEIPT = re.compile(r"[A-Za-z0-9]{1,20}")

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


class Refused(Exception):
    """The callback is turned away: `outcome` is recorded, the provider gets its own error.
    `fields` names the payload's fields at fault, if any."""

    def __init__(
        self,
        outcome: str,
        http_status: int,
        message: str,
        code: str = "C2B00016",
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(outcome)
        self.outcome, self.http_status, self.message = outcome, http_status, message
        self.code, self.fields = code, fields


class Replayed(Exception):
    """The payment's TransID or receipt is on record already: the database refused the insert
    and rolled the transaction back."""

    def __init__(self, payment: deposits.ReceivedPayment) -> None:
        super().__init__(payment.trans_id)
        self.payment = payment


class ProviderCallbackApi(APIView):
    """Called by a provider: no user, no throttle. Every body, whatever its size or shape, is
    stored raw first and ends with an outcome, and the provider always gets an answer in its
    own format: the effect and its outcome commit together; a refusal, or a failure nobody
    foresaw, is recorded on its own after the effect's transaction rolled back."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []
    kind: str

    def post(self, request: Request) -> Response:
        raw = read_limited(request._request)
        callback = deposits.callback_received(
            kind=self.kind, body=raw[: settings.MAX_BODY_BYTES], remote_addr=source_address(request)
        )
        try:
            with transaction.atomic():
                outcome, response = self.handle(request, raw, callback)
                deposits.callback_keep(callback, outcome)
        except Refused as refused:
            deposits.callback_keep_alone(callback, refused.outcome)
            log.warning("%s callback refused: %s", self.kind, refused.outcome)
            return self.answer(refused.code, refused.message, refused.http_status)
        except Replayed as replay:
            return self.replayed(callback, replay.payment)
        except Exception as exc:  # recorded and answered; the provider's retry or the sweep
            kept = deposits.callback_keep_alone(callback, f"error: {type(exc).__name__}: {exc}")
            log.exception("%s callback %s failed", self.kind, kept.pk)
            return self.answer("1", "Temporarily unable to process", 503)
        return response

    def replayed(self, callback: ProviderCallback, payment: deposits.ReceivedPayment) -> Response:
        """A payment reported before: answered as the first report was, nothing applied."""
        with transaction.atomic():
            first = deposits.deposit_replayed(payment)
            if first is None:  # the conflict was not with an earlier report of this payment
                kept = deposits.callback_keep_alone(callback, "error: refused by the database")
                log.error("%s callback %s: refused by the database", self.kind, kept.pk)
                return self.answer("1", "Temporarily unable to process", 503)
            deposits.callback_keep_alone(callback, f"replay: {deposits.deposit_summary(first)}")
        return Response(ACCEPTED)

    def handle(
        self, request: Request, raw: bytes, callback: ProviderCallback | None
    ) -> tuple[str, Response]:
        raise NotImplementedError

    def answer(self, code: str, message: str, http_status: int) -> Response:
        return Response({"detail": message, "code": code}, status=http_status)

    @staticmethod
    def parse(raw: bytes, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """The body validated by `serializer_class`, or a Refused naming what is wrong."""
        try:
            payload = parse_json(raw)
        except BodyRefused as exc:
            http_status = 413 if exc.too_large else 400
            raise Refused(f"rejected: {exc.reason}", http_status, "Unreadable") from None
        data = serializer_class(data=payload)
        if not data.is_valid():
            errors = data.errors if isinstance(data.errors, dict) else {"body": data.errors}
            raise Refused(
                f"rejected: {json.dumps(errors)[:180]}",
                400,
                "Rejected: " + ", ".join(errors),
                fields=tuple(errors),
            )
        return data.validated_data


class DarajaCallbackApi(ProviderCallbackApi):
    """Checked (source address, URL token), parsed, answered in Daraja's format; subclasses say
    what the payload means."""

    serializer_class: type[serializers.Serializer]
    bad_field_codes: dict[str, str] = {}

    def answer(self, code: str, message: str, http_status: int) -> Response:
        return daraja_answer(code, message, http_status)

    def handle(
        self, request: Request, raw: bytes, callback: ProviderCallback | None
    ) -> tuple[str, Response]:
        if refusal := mpesa_callback_refusal(request, source_address(request)):
            raise Refused(f"rejected: {refusal}", status.HTTP_403_FORBIDDEN, "Rejected")
        try:
            data = self.parse(raw, self.serializer_class)
        except Refused as refused:
            bad = [code for field, code in self.bad_field_codes.items() if field in refused.fields]
            refused.code = bad[0] if bad else refused.code
            raise
        return self.process(data, callback)

    def process(
        self, data: dict[str, Any], callback: ProviderCallback | None
    ) -> tuple[str, Response]:
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
    we can read is recorded (unknown references are kept as unmatched), once per payment."""

    kind = ProviderCallback.Kind.MPESA_C2B_CONFIRMATION
    serializer_class = C2BPaymentSerializer
    bad_field_codes = {"TransAmount": "C2B00013"}

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        payment = deposits.ReceivedPayment(
            trans_id=data["TransID"],
            amount=data["TransAmount"],
            bill_ref_number=data["BillRefNumber"],
            msisdn=data["MSISDN"],
            payer_name=" ".join(
                data[part] for part in ("FirstName", "MiddleName", "LastName") if data[part]
            ),
            trans_time=data["TransTime"],
            paid_at=mpesa_time(data["TransTime"]) or timezone.now(),
        )
        try:
            deposit = deposits.deposit_confirm(payment=payment, callback=callback)
        except IntegrityError:
            raise Replayed(payment) from None
        return callback.outcome or deposits.deposit_summary(deposit), Response(ACCEPTED)


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

    def post(self, request: Request) -> Response:
        """Read-only, one query: no money moves on a validation, so nothing is stored; the
        answer is logged (M-Pesa follows an accepted one with the confirmation)."""
        raw = read_limited(request._request)
        try:
            outcome, response = self.handle(request, raw, None)
        except Refused as refused:
            outcome = refused.outcome
            response = self.answer(refused.code, refused.message, refused.http_status)
        log.info("C2B validation from %s: %s", source_address(request), outcome)
        return response

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        reference = normalise_reference(data["BillRefNumber"])
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
        meta = stk_metadata(result)
        try:
            amount = stk.parse_amount(meta.get("Amount"))
        except ValueError as exc:
            raise Refused(f"rejected: Amount {exc}", 400, "Rejected", "C2B00013") from None
        receipt = meta.get("MpesaReceiptNumber")
        if receipt is not None and not (isinstance(receipt, str) and RECEIPT.fullmatch(receipt)):
            raise Refused(f"rejected: MpesaReceiptNumber {receipt!r}", 400, "Rejected")
        try:
            request = stk.stk_apply_result(
                checkout_request_id=checkout_id,
                result_code=str(result["ResultCode"]),
                receipt_number=receipt or "",
                amount=amount,
                payer=str(meta.get("PhoneNumber") or "")[:20],
                paid_at=mpesa_time(meta.get("TransactionDate")),
            )
        except StkPushRequest.DoesNotExist:
            raise Refused(
                f"rejected: unknown CheckoutRequestID {checkout_id}",
                status.HTTP_404_NOT_FOUND,
                "Unknown CheckoutRequestID",
                code="1",
            ) from None
        return f"{checkout_id}: {request.status} ({request.result_message})", Response(ACCEPTED)


def result_of(data: dict[str, Any], *required: str) -> dict[str, Any]:
    """The validated `Result`, refused unless it names each of `required`."""
    result = data["Result"]
    if missing := [name for name in required if not result[name]]:
        raise Refused(f"rejected: no {', '.join(missing)}", 400, "Rejected: " + ", ".join(missing))
    return result


@acknowledged_by_daraja(ResultEnvelopeSerializer)
class MpesaReversalResultApi(DarajaCallbackApi):
    """Daraja's verdict on a reversal we asked for."""

    kind = ProviderCallback.Kind.MPESA_REVERSAL
    serializer_class = ResultEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = result_of(data, "ConversationID")
        reversal = reversals.reversal_apply_result(
            conversation_id=result["ConversationID"],
            result_code=result["ResultCode"],
            message=result["ResultDesc"],
        )
        if reversal is None:
            raise Refused("rejected: unknown ConversationID", 404, "Unknown", code="1")
        return f"reversal of {reversal.deposit}: {reversal.status}", Response(ACCEPTED)


class MpesaReversalTimeoutApi(MpesaReversalResultApi):
    """Daraja queued the reversal too long; the outcome is unknown, so nothing changes: it is
    kept on record and the reversal stays submitted for an operator to check."""

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = result_of(data, "ConversationID")
        return f"timeout for {result['ConversationID']}", Response(ACCEPTED)


@acknowledged_by_daraja(ResultEnvelopeSerializer)
class MpesaTransactionStatusResultApi(DarajaCallbackApi):
    """The answer to a Transaction Status query about money we received: it settles a reversal
    we asked for, and recognises a payment we knew without its receipt."""

    kind = ProviderCallback.Kind.MPESA_REVERSAL
    serializer_class = ResultEnvelopeSerializer

    def process(self, data: dict[str, Any], callback: ProviderCallback) -> tuple[str, Response]:
        result = data["Result"]
        values = result["ResultParameters"]
        trans_id = str(values.get("ReceiptNo") or result["TransactionID"])[:40]
        status_text = str(values.get("TransactionStatus") or "")
        outcomes = [f"status of {trans_id or '?'}: {status_text or result['ResultDesc']}"]
        if reversal := reversals.reversal_apply_status(
            trans_id=trans_id, transaction_status=status_text
        ):
            outcomes.append(f"reversal {reversal.status}")
        if result["ResultCode"] == "0" and status_text == "Completed":
            outcomes.append(transaction_status.deposit_apply_transaction_status(values))
        return "; ".join(outcomes), Response(ACCEPTED)
