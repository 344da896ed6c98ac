from decimal import Decimal

from rest_framework import serializers


class C2BConfirmationSerializer(serializers.Serializer):
    """Daraja's C2B confirmation payload. Unknown extra fields are Safaricom's to add."""

    TransactionType = serializers.CharField(required=False, allow_blank=True)
    TransID = serializers.RegexField(r"^[A-Za-z0-9]{1,40}$")
    TransTime = serializers.CharField(required=False, allow_blank=True, max_length=14)
    TransAmount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        coerce_to_string=False,
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
