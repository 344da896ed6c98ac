from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from accounts.models import User
from accounts.phones import InvalidPhoneNumber, normalise_phone


class PhoneNumberFormMixin:
    def clean_phone_number(self) -> str:
        try:
            return normalise_phone(self.cleaned_data["phone_number"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None


class UserCreateForm(PhoneNumberFormMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["phone_number", "first_name", "last_name", "user_type"]


class UserEditForm(PhoneNumberFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    ordering = ["-date_joined"]
    list_display = ["phone_number", "first_name", "last_name", "user_type", "email", "date_joined"]
    list_filter = ["user_type", "is_active", "is_staff"]
    search_fields = ["phone_number", "first_name", "last_name", "email"]
    readonly_fields = ["ussd_pin", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["phone_number", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "email", "user_type"]}),
        ("Payments", {"fields": ["stellar_account_id", "ussd_pin"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "phone_number",
                    "first_name",
                    "last_name",
                    "user_type",
                    "password1",
                    "password2",
                ],
            },
        )
    ]
