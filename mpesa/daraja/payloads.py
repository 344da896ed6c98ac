"""The bodies Daraja posts to our callbacks, validated field by field and type by type. Safaricom
sends strings for most values but numbers in its own samples (`TransAmount`, `ResultCode`), and
`null` for empty ones; a pair list (`ResultParameter`, `ReferenceItem`) may come as one object
or as a list, and a pair may have no `Value`. Anything else of the wrong shape is refused with a
400 in Daraja's format, never a crash."""

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

SCALARS = (str, int, float, bool, type(None))


class Text(serializers.CharField):
    """An optional Daraja string: a number is taken as its text, `null` as empty."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default="", allow_blank=True, allow_null=True, **kwargs)

    def validate_empty_values(self, data: object) -> tuple[bool, object]:
        if data is None:
            return True, ""
        return super().validate_empty_values(data)

    def to_representation(self, value: object) -> str:
        return "" if value is None else str(value)


@extend_schema_field(OpenApiTypes.OBJECT)
class Pairs(serializers.Field):
    """Daraja's `{"ResultParameter": [{"Key": ..., "Value": ...}, ...]}` as a mapping of Key to
    Value. A single pair may come unwrapped; `null` or an empty string is no pairs."""

    def __init__(self, wrapper: str, **kwargs: Any) -> None:
        self.wrapper = wrapper
        super().__init__(default=dict, allow_null=True, **kwargs)

    def validate_empty_values(self, data: object) -> tuple[bool, object]:
        if data is None or data == "":
            return True, {}
        return super().validate_empty_values(data)

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(f"Expected an object with {self.wrapper}.")
        pairs = data.get(self.wrapper)
        if pairs is None or pairs == "":
            return {}
        if isinstance(pairs, dict):
            pairs = [pairs]
        if not isinstance(pairs, list):
            raise serializers.ValidationError(f"{self.wrapper} must be an object or a list.")
        found: dict[str, Any] = {}
        for pair in pairs:
            if not isinstance(pair, dict) or not isinstance(pair.get("Key"), str):
                raise serializers.ValidationError("Each pair needs a string Key.")
            if not isinstance(pair.get("Value"), SCALARS):
                raise serializers.ValidationError(f"{pair['Key']}: Value must be a plain value.")
            found[pair["Key"]] = pair.get("Value")
        return found

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return {self.wrapper: [{"Key": k, "Value": v} for k, v in value.items()]}


class C2BPaymentSerializer(serializers.Serializer):
    """Daraja's C2B validation and confirmation payload. Extra fields are Safaricom's to add."""

    TransactionType = Text()
    TransID = serializers.RegexField(r"^[A-Za-z0-9]{1,40}$")
    TransTime = Text(max_length=14)
    TransAmount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=False
    )
    BusinessShortCode = Text(max_length=20)
    BillRefNumber = Text(max_length=100)
    InvoiceNumber = Text(max_length=100)
    OrgAccountBalance = Text(max_length=30)
    ThirdPartyTransID = Text(max_length=100)
    MSISDN = Text(max_length=100)
    FirstName = Text(max_length=100)
    MiddleName = Text(max_length=100)
    LastName = Text(max_length=100)


class StkItemSerializer(serializers.Serializer):
    Name = serializers.CharField(max_length=100)
    Value = serializers.JSONField(required=False, allow_null=True)

    def validate_Value(self, value: object) -> object:
        if not isinstance(value, SCALARS):
            raise serializers.ValidationError("Must be a plain value.")
        return value


class StkMetadataSerializer(serializers.Serializer):
    Item = StkItemSerializer(many=True, max_length=50)


class StkCallbackSerializer(serializers.Serializer):
    MerchantRequestID = Text(max_length=64)
    CheckoutRequestID = serializers.CharField(max_length=64)
    ResultCode = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1)
    ResultDesc = Text(max_length=500)
    CallbackMetadata = StkMetadataSerializer(required=False, allow_null=True)


class StkBodySerializer(serializers.Serializer):
    stkCallback = StkCallbackSerializer()


class StkEnvelopeSerializer(serializers.Serializer):
    Body = StkBodySerializer()


def stk_metadata(callback: dict[str, Any]) -> dict[str, Any]:
    """The validated STK callback's metadata items as a mapping of Name to Value."""
    items = (callback.get("CallbackMetadata") or {}).get("Item", [])
    return {item["Name"]: item.get("Value") for item in items}


class ResultSerializer(serializers.Serializer):
    """The `Result` of every asynchronous Daraja API: B2C, reversal, Transaction Status (and
    their queue timeouts). Which identifiers must be present is each callback's business."""

    ResultType = serializers.IntegerField(required=False, allow_null=True)
    ResultCode = serializers.CharField(max_length=20)
    ResultDesc = Text(max_length=500)
    OriginatorConversationID = Text(max_length=64)
    ConversationID = Text(max_length=64)
    TransactionID = Text(max_length=64)
    ResultParameters = Pairs("ResultParameter")
    ReferenceData = Pairs("ReferenceItem")


class ResultEnvelopeSerializer(serializers.Serializer):
    Result = ResultSerializer()
