from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

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


class User(AbstractBaseUser, PermissionsMixin):
    """Identified by phone number: most users have M-Pesa, not necessarily email."""

    phone_number = models.CharField(max_length=16, unique=True, help_text="E.164, +2547XXXXXXXX")
    # NULL, not "", for "no email": the case-insensitive unique constraint ignores NULLs.
    email = models.EmailField(blank=True, null=True)  # noqa: DJ001
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    user_type = models.CharField(max_length=10, choices=UserType.choices)
    stellar_account_id = models.CharField(max_length=56, blank=True, default="")
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
        self.ussd_pin = make_password(pin)

    def check_ussd_pin(self, pin: str) -> bool:
        return bool(self.ussd_pin) and check_password(pin, self.ussd_pin)
