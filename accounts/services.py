from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import login_guard
from accounts.models import User
from accounts.phones import normalise_phone
from kazi.errors import Conflict, DomainError


def user_register(
    *,
    phone_number: str,
    password: str | None,
    user_type: str,
    first_name: str,
    last_name: str,
    email: str | None = None,
    language: str = "en",
) -> User:
    """Web, app and USSD registration. USSD users have no password (they use a PIN) until they
    set one."""
    user = User(
        phone_number=normalise_phone(phone_number),
        email=User.objects.normalize_email(email) if email else None,
        first_name=first_name,
        last_name=last_name,
        user_type=user_type,
        language=language,
    )
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Lost a race with an identical registration: the serializer's checks passed for both.
        raise Conflict("An account with this phone number or email already exists.") from None
    return user


def user_login(*, identifier: str, password: str) -> User | None:
    """The active user with this phone number or email and password, else None. Refused (429)
    while failed logins have locked the account (login_guard)."""
    account = login_guard.login_account(identifier)
    login_guard.login_attempt(account)
    lookup = {"email__iexact": account} if "@" in account else {"phone_number": account}
    user = User.objects.filter(**lookup).first()
    if user is None:
        User().set_password(password)  # same work as a real check: no timing oracle for who exists
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    login_guard.login_succeeded(account)
    return user


def user_tokens(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def user_set_language(*, user: User, language: str) -> User:
    """The language the user reads Kazi Trust in: the web pages, USSD menus, SMS and email."""
    if language not in dict(User._meta.get_field("language").choices):
        raise DomainError(f"{language!r} is not a language we speak.", code="invalid_language")
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user
