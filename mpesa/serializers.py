from decimal import Decimal

from rest_framework import serializers

from accounts.serializers import PhoneNumberField
from kazi.serializers import StrictInputSerializer
from mpesa.models import StkPushRequest


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
