from decimal import Decimal

from rest_framework import serializers

from accounts.serializers import PhoneNumberField
from kazi.serializers import StrictInputSerializer
from payments.models import StkPushRequest


class C2BPaymentSerializer(serializers.Serializer):
    """Daraja's C2B validation and confirmation payload. Extra fields are Safaricom's to add."""

    TransactionType = serializers.CharField(required=False, allow_blank=True)
    TransID = serializers.RegexField(r"^[A-Za-z0-9]{1,40}$")
    TransTime = serializers.CharField(required=False, allow_blank=True, max_length=14)
    TransAmount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=False
    )
    BusinessShortCode = serializers.CharField(required=False, allow_blank=True)
    BillRefNumber = serializers.CharField(required=False, allow_blank=True, max_length=100)
    InvoiceNumber = serializers.CharField(required=False, allow_blank=True)
    OrgAccountBalance = serializers.CharField(required=False, allow_blank=True)
    ThirdPartyTransID = serializers.CharField(required=False, allow_blank=True)
    MSISDN = serializers.CharField(required=False, allow_blank=True, max_length=100)
    FirstName = serializers.CharField(required=False, allow_blank=True)
    MiddleName = serializers.CharField(required=False, allow_blank=True)
    LastName = serializers.CharField(required=False, allow_blank=True)


class StkCallbackItemSerializer(serializers.Serializer):
    Name = serializers.CharField()
    Value = serializers.JSONField(required=False)


class StkCallbackMetadataSerializer(serializers.Serializer):
    Item = StkCallbackItemSerializer(many=True)


class StkCallbackSerializer(serializers.Serializer):
    MerchantRequestID = serializers.CharField(required=False, allow_blank=True)
    CheckoutRequestID = serializers.CharField(max_length=64)
    ResultCode = serializers.IntegerField()
    ResultDesc = serializers.CharField(required=False, allow_blank=True)
    CallbackMetadata = StkCallbackMetadataSerializer(required=False)


class StkBodySerializer(serializers.Serializer):
    stkCallback = StkCallbackSerializer()


class StkEnvelopeSerializer(serializers.Serializer):
    Body = StkBodySerializer()


class ReversalResultSerializer(serializers.Serializer):
    ResultType = serializers.IntegerField(required=False)
    ResultCode = serializers.CharField()
    ResultDesc = serializers.CharField(required=False, allow_blank=True)
    ConversationID = serializers.CharField(max_length=64)
    OriginatorConversationID = serializers.CharField(required=False, allow_blank=True)


class ReversalEnvelopeSerializer(serializers.Serializer):
    Result = ReversalResultSerializer()


class B2CResultSerializer(serializers.Serializer):
    ResultType = serializers.IntegerField(required=False)
    ResultCode = serializers.CharField(max_length=20)
    ResultDesc = serializers.CharField(required=False, allow_blank=True)
    OriginatorConversationID = serializers.CharField(max_length=64)
    ConversationID = serializers.CharField(required=False, allow_blank=True, max_length=64)
    TransactionID = serializers.CharField(required=False, allow_blank=True, max_length=64)


class B2CEnvelopeSerializer(serializers.Serializer):
    Result = B2CResultSerializer()


class DepositRequestSerializer(StrictInputSerializer):
    phone_number = PhoneNumberField(required=False, max_length=20, help_text="Default: yours")
    amount = serializers.DecimalField(
        max_digits=9,
        decimal_places=0,
        min_value=Decimal("1"),
        required=False,
        help_text="Whole shillings; default: what the escrow still needs",
    )


class StkRequestOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StkPushRequest
        fields = ["checkout_request_id", "status", "amount", "phone_number", "result_message"]
