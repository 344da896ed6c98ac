import json
import logging

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import deposits
from payments.callback_security import mpesa_source_allowed, source_address
from payments.models import ProviderCallback
from payments.serializers import C2BConfirmationSerializer

log = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def daraja_rejection(code: str, description: str, http_status: int) -> Response:
    return Response({"ResultCode": code, "ResultDesc": description}, status=http_status)


class MpesaC2BConfirmationApi(APIView):
    """Safaricom tells us money arrived on our Pay Bill. The money has moved already, so anything
    we can read is recorded (unknown references are kept as unmatched), once per TransID."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        request=C2BConfirmationSerializer,
        responses={
            200: OpenApiResponse(description="Daraja acknowledgement"),
            400: OpenApiResponse(description="Unreadable payload, in Daraja's format"),
            403: OpenApiResponse(description="Source address not allowed"),
        },
        examples=[
            OpenApiExample(
                "C2B confirmation",
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
            ),
            OpenApiExample("Accepted", response_only=True, value=ACCEPTED),
        ],
    )
    def post(self, request: Request) -> Response:
        address = source_address(request)
        callback = deposits.callback_store(
            kind=ProviderCallback.Kind.MPESA_C2B_CONFIRMATION,
            body=request._request.body,
            remote_addr=address,
        )
        if not mpesa_source_allowed(address):
            deposits.callback_outcome(callback, f"rejected: source {address} not allowed")
            log.warning("M-Pesa callback from %s refused", address)
            return daraja_rejection("C2B00016", "Rejected", status.HTTP_403_FORBIDDEN)
        try:
            payload = json.loads(callback.body)
        except ValueError:
            deposits.callback_outcome(callback, "rejected: malformed JSON")
            return daraja_rejection("C2B00016", "Malformed JSON", status.HTTP_400_BAD_REQUEST)
        data = C2BConfirmationSerializer(data=payload)
        if not data.is_valid():
            errors = data.errors if isinstance(data.errors, dict) else {}
            deposits.callback_outcome(callback, f"rejected: {json.dumps(errors)}")
            code = "C2B00013" if "TransAmount" in errors else "C2B00016"
            return daraja_rejection(code, "Rejected: " + ", ".join(errors), 400)
        payment = deposits.C2BPayment(
            trans_id=data.validated_data["TransID"],
            amount=data.validated_data["TransAmount"],
            bill_ref_number=data.validated_data.get("BillRefNumber", ""),
            msisdn=data.validated_data.get("MSISDN", ""),
            payer_name=" ".join(
                data.validated_data.get(part, "")
                for part in ("FirstName", "MiddleName", "LastName")
            ).strip(),
            trans_time=data.validated_data.get("TransTime", ""),
        )
        deposit = deposits.deposit_record_c2b(payment=payment, callback=callback)
        deposits.callback_outcome(callback, deposits.deposit_summary(deposit))
        return Response(ACCEPTED)
