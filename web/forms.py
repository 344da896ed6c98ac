"""The pages' forms: field names as the API's, the API's rules, errors in the reader's language.
A form only validates what was typed; the services decide the rest."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import User, UserType
from accounts.phones import InvalidPhoneNumber, normalise_phone
from kazi.money import MAX_BUDGET

MIN_BUDGET = Decimal("10")

# Django's own messages that its Kiswahili catalogue lacks, for the fields below: listed here so
# `make messages` keeps them in locale/sw, whose translation then wins over Django's English.
DJANGO_TEXTS = (
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
)

# Django's password validators by their codes (user_register runs the same ones): our words,
# since Django's name fields in English ("too similar to the phone number").
PASSWORD_PROBLEMS = {
    "password_too_short": _("Use at least 8 characters."),
    "password_too_similar": _("Too like your name, phone number or email: choose another."),
    "password_too_common": _("Too common: anyone could guess it. Choose another."),
    "password_entirely_numeric": _("Not only numbers: add some letters."),
}


class PhoneNumberField(forms.CharField):
    """Any Kenyan form of a mobile number (0712..., 712..., 254712..., +254712...): E.164."""

    default_error_messages = {"invalid": _("Enter a Kenyan mobile number, like 0712 345 678.")}

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "tel", "autocomplete": "tel"})

    def to_python(self, value: object) -> str:
        text = super().to_python(value)
        if not text:
            return text
        try:
            return normalise_phone(text)
        except InvalidPhoneNumber:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class ShillingsField(forms.CharField):
    """KES in whole shillings, typed as people write them: 1500, 1,500, KES 1 500, 1500.00."""

    default_error_messages = {
        "invalid": _("Enter an amount in shillings, like 1500."),
        "cents": _("M-Pesa moves whole shillings: give the amount without cents."),
        "range": _("A budget is from KES 10 to KES 10,000,000."),
    }

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "numeric", "autocomplete": "off", "maxlength": 20})

    def to_python(self, value: object) -> Decimal | None:
        text = super().to_python(value)
        if not text:
            return None
        cleaned = text.upper().replace("KES", "").replace("KSH", "").replace("SH", "")
        cleaned = cleaned.replace(",", "").replace(" ", "").replace("\u00a0", "")
        try:
            amount = Decimal(cleaned)
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not amount.is_finite():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if amount != amount.to_integral_value():
            raise ValidationError(self.error_messages["cents"], code="cents")
        if not MIN_BUDGET <= amount <= MAX_BUDGET:
            raise ValidationError(self.error_messages["range"], code="range")
        return amount.quantize(Decimal("0.01"))


class SignupForm(forms.Form):
    user_type = forms.ChoiceField(
        label=_("I want to"),
        choices=[
            (UserType.EMPLOYER, _("hire someone (employer)")),
            (UserType.EMPLOYEE, _("find work (worker)")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose whether you hire or look for work.")},
    )
    first_name = forms.CharField(
        label=_("First name"),
        max_length=150,
        widget=forms.TextInput({"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=150,
        widget=forms.TextInput({"autocomplete": "family-name"}),
    )
    phone_number = PhoneNumberField(
        label=_("M-Pesa phone number"),
        help_text=_("Your money is paid to this number. You log in with it."),
    )
    email = forms.EmailField(
        label=_("Email (optional)"),
        required=False,
        widget=forms.EmailInput({"autocomplete": "email"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        strip=False,
        help_text=_("At least 8 characters, not only numbers, not your name."),
        widget=forms.PasswordInput({"autocomplete": "new-password"}),
    )

    def clean_phone_number(self) -> str:
        phone = self.cleaned_data["phone_number"]
        if User.objects.filter(phone_number=phone).exists():
            raise ValidationError(
                _("An account with this phone number already exists. Log in instead.")
            )
        return phone

    def clean_email(self) -> str | None:
        email = self.cleaned_data.get("email") or None
        if email and User.objects.filter(email__iexact=email).exists():
            raise ValidationError(_("An account with this email already exists."))
        return email

    def clean(self) -> dict:
        data = super().clean()
        password = data.get("password")
        if password:
            someone = User(
                phone_number=data.get("phone_number") or "",
                first_name=data.get("first_name") or "",
                last_name=data.get("last_name") or "",
                email=data.get("email") or None,
            )
            try:
                validate_password(password, someone)
            except ValidationError as exc:
                for problem in exc.error_list:
                    self.add_error("password", PASSWORD_PROBLEMS.get(problem.code, problem))
        return data


class LoginForm(forms.Form):
    phone_number = forms.CharField(
        label=_("Phone number"),
        max_length=254,
        help_text=_("Or the email you signed up with."),
        widget=forms.TextInput({"autocomplete": "username", "inputmode": "tel"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "current-password"}),
    )


class JobForm(forms.Form):
    title = forms.CharField(
        label=_("What is the job?"),
        max_length=200,
        help_text=_("A short title, like: Paint a two-room house in Kasarani."),
    )
    description = forms.CharField(
        label=_("Describe the work"),
        max_length=5000,
        widget=forms.Textarea({"rows": 5}),
        help_text=_("Where, when, what the worker needs to bring, what counts as done."),
    )
    budget = ShillingsField(
        label=_("Budget (KES)"),
        help_text=_("Whole shillings. You pay this into escrow; the worker gets it when done."),
    )


class PayForm(forms.Form):
    phone_number = PhoneNumberField(
        label=_("M-Pesa number to pay from"),
        help_text=_("We send a payment request to this phone. Enter your M-Pesa PIN there."),
    )


class ApplyForm(forms.Form):
    message = forms.CharField(
        label=_("Message to the employer (optional)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("Say why you are right for the job: experience, when you can start."),
    )


class AssignForm(forms.Form):
    employee = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)


class DisputeForm(forms.Form):
    reason = forms.CharField(
        label=_("What went wrong?"),
        max_length=2000,
        widget=forms.Textarea({"rows": 4}),
        help_text=_("An arbiter reads this. The money stays held until they decide."),
    )


class DisputeMessageForm(forms.Form):
    text = forms.CharField(
        label=_("Add to the dispute"),
        max_length=2000,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("What happened, and any proof. Both sides and the arbiter see it."),
    )


class RateForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Your rating"),
        coerce=int,
        choices=[
            (5, _("5: excellent")),
            (4, _("4: good")),
            (3, _("3: fair")),
            (2, _("2: poor")),
            (1, _("1: very poor")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a rating from 1 to 5.")},
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )


class ShareField(forms.DecimalField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            max_digits=12,
            decimal_places=2,
            min_value=Decimal("0.00"),
            error_messages={
                "invalid": _("Enter an amount, like 750 or 750.50."),
                "min_value": _("A share cannot be less than zero."),
            },
            **kwargs,
        )
        self.widget.attrs.update({"inputmode": "decimal"})


class ResolveForm(forms.Form):
    to_employee = ShareField(label=_("To the worker (KES)"))
    to_employer = ShareField(label=_("Back to the employer (KES)"))
    note = forms.CharField(
        label=_("Your decision, in a few words (both sides see it)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea({"rows": 3}),
    )


class PinResetForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from the SMS"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("The code is the 6 digits we sent by SMS.")},
        widget=forms.TextInput({"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    pin = forms.RegexField(
        label=_("New USSD PIN"),
        regex=r"^\d{4}$",
        error_messages={"invalid": _("A PIN is 4 digits.")},
        widget=forms.PasswordInput({"inputmode": "numeric", "autocomplete": "off"}),
    )
    pin_again = forms.CharField(
        label=_("New PIN again"),
        widget=forms.PasswordInput({"inputmode": "numeric", "autocomplete": "off"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("pin") and data.get("pin") != data.get("pin_again"):
            self.add_error("pin_again", _("The two PINs are not the same."))
        return data
