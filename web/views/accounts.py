"""Signing up, logging in and out, the language, and a person's own page (/me/)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import pins
from accounts.models import User
from accounts.services import user_login, user_register, user_set_language
from jobs import selectors
from kazi.errors import DomainError, TooManyAttempts
from notifications.services import notifications_of
from payouts.selectors import user_money
from web import forms
from web.errors import explain, too_many_requests
from web.pages import my_jobs
from web.templatetags.kazi_web import local_phone
from web.throttles import address_wait
from web.views.base import next_url, page

BACKEND = "django.contrib.auth.backends.ModelBackend"
NOTIFICATIONS_SHOWN = 20


def _logged_in(request: HttpRequest, user: User, default: str) -> HttpResponseRedirect:
    """Log `user` in (a new session), and keep their language in the cookie too."""
    auth_login(request, user, backend=BACKEND)
    response = HttpResponseRedirect(next_url(request, default))
    _remember_language(response, user.language)
    return response


def _remember_language(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=True,
    )


@page
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:me")
    status = 200
    if request.method == "POST":
        form = forms.SignupForm(request.POST)
        wait = address_wait(request, "register")  # the API's limit, the same count
        if wait is not None:
            form.is_valid()
            form.add_error(None, too_many_requests(wait))
            return _form_page(request, "web/signup.html", form, 429, wait)
        if form.is_valid():
            try:
                user = user_register(**form.cleaned_data, language=request.LANGUAGE_CODE)
            except ValidationError as exc:  # the password validators, run again by the service
                form.add_error("password", exc.message_dict.get("password", exc.messages))
            except DomainError as exc:  # lost a race with the same phone number or email
                form.add_error("phone_number", explain(exc))
            else:
                messages.success(request, _("Welcome to Kazi Trust. Your account is ready."))
                default = reverse("web:job_new" if user.is_employer else "web:jobs")
                return _logged_in(request, user, default)
        status = 400
    else:
        form = forms.SignupForm(initial={"user_type": request.GET.get("as", "")})
    return _form_page(request, "web/signup.html", form, status)


def _form_page(
    request: HttpRequest, template: str, form: object, status: int = 200, retry_after: int = 0
) -> HttpResponse:
    """A login or sign-up page, keeping where to go afterwards (`next`)."""
    came_for = request.POST.get("next") or request.GET.get("next") or ""
    context = {"form": form, "next": next_url(request, "") if came_for else ""}
    response = render(request, template, context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@page
def login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url(request, reverse("web:me")))
    status = 200
    if request.method == "POST":
        form = forms.LoginForm(request.POST)
        wait = address_wait(request, "login")  # the API's limit, the same count
        if wait is not None:
            form.is_valid()
            form.add_error(None, too_many_requests(wait))
            return _form_page(request, "web/login.html", form, 429, wait)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = user_login(identifier=data["phone_number"], password=data["password"])
            except TooManyAttempts as exc:  # the account is locked (login_guard)
                form.add_error(None, explain(exc))
                return _form_page(request, "web/login.html", form, 429, exc.retry_after)
            if user is not None:
                return _logged_in(request, user, reverse("web:me"))
            form.add_error("password", _("Wrong phone number or password."))
        status = 400
    else:
        form = forms.LoginForm()
    return _form_page(request, "web/login.html", form, status)


@page
def logout(request: HttpRequest) -> HttpResponse:
    """GET asks (a link cannot log anyone out); POST, with its CSRF token, logs out."""
    if request.method == "POST":
        auth_logout(request)
        messages.success(request, _("You are logged out."))
        return redirect("web:home")
    return render(request, "web/logout.html")


@require_POST
@page
def language(request: HttpRequest) -> HttpResponse:
    """The language switch: remembered in a cookie, and for a logged-in user in user.language
    (their SMS and USSD menus follow it)."""
    chosen = request.POST.get("language", "")
    response = HttpResponseRedirect(next_url(request, reverse("web:home")))
    if chosen not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        user_set_language(user=request.user, language=chosen)
    _remember_language(response, chosen)
    return response


@login_required
@page
def me(request: HttpRequest) -> HttpResponse:
    return _render_me(request, forms.PinResetForm())


def _render_me(
    request: HttpRequest, pin_form: forms.PinResetForm, status: int = 200
) -> HttpResponse:
    user = request.user
    context = {
        "groups": my_jobs(user, selectors.jobs_of(user)),
        "money": user_money(user=user),
        "notifications": notifications_of(user)[:NOTIFICATIONS_SHOWN],
        "person": selectors.public_profile(user.pk),
        "pin_form": pin_form,
    }
    return render(request, "web/me.html", context, status=status)


@require_POST
@login_required
@page
def pin_code(request: HttpRequest) -> HttpResponse:
    """Send a one-time code by SMS: with it, a forgotten or locked USSD PIN is replaced."""
    pins.pin_reset_start(user=request.user)
    messages.success(
        request,
        _("We sent a 6-digit code by SMS to %(phone)s. It works for 10 minutes.")
        % {"phone": local_phone(request.user.phone_number)},
    )
    return HttpResponseRedirect(reverse("web:me") + "#pin")


@require_POST
@login_required
@page
def pin_reset(request: HttpRequest) -> HttpResponse:
    form = forms.PinResetForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = pins.pin_reset_complete(user=request.user, code=data["code"], pin=data["pin"])
        except DomainError as exc:
            form.add_error("pin", explain(exc))
        else:
            if changed:
                messages.success(
                    request,
                    _("Your USSD PIN is changed. Dial %(code)s and use it.")
                    % {"code": settings.USSD_SERVICE_CODE},
                )
                return HttpResponseRedirect(reverse("web:me") + "#pin")
            form.add_error("code", _("This code is wrong or has expired. Ask for a new one."))
    return _render_me(request, form, status=400)
