from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import constant_time_compare, get_random_string, salted_hmac
from stellar_sdk import StrKey

from accounts.phones import normalise_phone


class UserType(models.TextChoices):
    EMPLOYER = "employer", "Employer"
    EMPLOYEE = "employee", "Employee"


class UserManager(BaseUserManager["User"]):
    def create_user(self, phone_number: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("user_type", UserType.EMPLOYER)
        if fields.get("email"):
            fields["email"] = self.normalize_email(fields["email"])
        user = self.model(phone_number=normalise_phone(phone_number), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, phone_number: str, password: str, **fields: Any) -> "User":
        return self.create_user(phone_number, password, is_staff=True, is_superuser=True, **fields)


def validate_stellar_account(value: str) -> None:
    """Releases are paid to this account on chain: a typo would send a worker's money astray."""
    if not StrKey.is_valid_ed25519_public_key(value):
        raise ValidationError("Enter a Stellar account id (56 characters starting with G).")


class User(AbstractBaseUser, PermissionsMixin):
    """Identified by phone number: most users have M-Pesa, not necessarily email."""

    phone_number = models.CharField(max_length=16, unique=True, help_text="E.164, +2547XXXXXXXX")
    # NULL, not "", for "no email": the case-insensitive unique constraint ignores NULLs.
    email = models.EmailField(blank=True, null=True)  # noqa: DJ001
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    user_type = models.CharField(max_length=10, choices=UserType.choices)
    stellar_account_id = models.CharField(
        max_length=56,
        blank=True,
        default="",
        validators=[validate_stellar_account],
        help_text="The worker's own Stellar account (G...), paid directly on release",
    )
    ussd_pin = models.CharField(max_length=128, blank=True, default="", help_text="Hashed")
    pin_failed_attempts = models.PositiveSmallIntegerField(default=0)
    pin_locked_until = models.DateTimeField(null=True, blank=True)
    language = models.CharField(
        max_length=2, choices=[("en", "English"), ("sw", "Kiswahili")], default="en"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "phone_number"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(user_type__in=UserType.values), name="user_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_full_name()} ({self.phone_number})"

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_employer(self) -> bool:
        return self.user_type == UserType.EMPLOYER

    @property
    def is_employee(self) -> bool:
        return self.user_type == UserType.EMPLOYEE

    def set_ussd_pin(self, pin: str) -> None:
        salt = get_random_string(16)
        self.ussd_pin = f"hmac_sha256${salt}${_pin_digest(salt, pin)}"

    def check_ussd_pin(self, pin: str) -> bool:
        scheme, _, rest = self.ussd_pin.partition("$")
        salt, _, digest = rest.partition("$")
        return scheme == "hmac_sha256" and constant_time_compare(digest, _pin_digest(salt, pin))


def _pin_digest(salt: str, pin: str) -> str:
    """A keyed hash: only 10,000 PINs exist, so a slow hash would not stop anyone holding a copy
    of the database, but without SECRET_KEY the digests are useless. (The lockout is what stops
    guessing.) Fast enough for every USSD hop."""
    return salted_hmac("kazi.ussd-pin", f"{salt}:{pin}", algorithm="sha256").hexdigest()
