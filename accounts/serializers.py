from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts.models import User, UserType
from accounts.phones import InvalidPhoneNumber, normalise_phone
from kazi.serializers import StrictInputSerializer


class PhoneNumberField(serializers.CharField):
    """Accepts any common Kenyan form; yields E.164."""

    def to_internal_value(self, data: object) -> str:
        text = super().to_internal_value(data)
        try:
            return normalise_phone(text)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "phone_number",
            "email",
            "first_name",
            "last_name",
            "user_type",
            "stellar_account_id",
            "date_joined",
        ]
        read_only_fields = fields


class RegisterInputSerializer(StrictInputSerializer):
    phone_number = PhoneNumberField(max_length=20)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True)
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    user_type = serializers.ChoiceField(choices=UserType.choices)

    def validate_phone_number(self, value: str) -> str:
        if User.objects.filter(phone_number=value).exists():
            raise serializers.ValidationError("An account with this phone number already exists.")
        return value

    def validate_email(self, value: str | None) -> str | None:
        if value and User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("An account with this email already exists.")
        return value or None


class LoginInputSerializer(StrictInputSerializer):
    phone_number = serializers.CharField(required=False, max_length=20)
    email = serializers.EmailField(required=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("phone_number")) == bool(attrs.get("email")):
            raise serializers.ValidationError("Give either phone_number or email, not both.")
        return attrs


class RefreshInputSerializer(StrictInputSerializer, TokenRefreshSerializer):
    """simplejwt's, but the token of a user deleted since is refused (401) like a deactivated
    user's: simplejwt looks the user up with .get() and lets DoesNotExist out as a 500."""

    def validate(self, attrs: dict) -> dict:
        try:
            return super().validate(attrs)
        except User.DoesNotExist:
            message = self.error_messages["no_active_account"]
            raise AuthenticationFailed(message, "no_active_account") from None


class AuthOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()
