"""The admin as its users see it: Django's test client logged in as a superuser, a staff arbiter
(escrow.resolve_dispute) or a staff member who may only look. Outbound work queued on commit runs
once the request's transaction has committed, as in production."""

import html
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from tests.conftest import assert_books_balance
from tests.factories import ArbiterFactory, EmployerFactory


class AdminClient:
    def __init__(self, capture) -> None:
        self.client = Client()
        self._capture = capture

    def as_user(self, user: User) -> "AdminClient":
        self.client.force_login(user)
        return self

    def get(self, url: str, data=None, **extra):
        with self._capture(execute=True):
            return self.client.get(url, data, **extra)

    def post(self, url: str, data=None, **extra):
        with self._capture(execute=True):
            return self.client.post(url, data or {}, **extra)

    def action(self, changelist: str, action: str, objects: list, **fields):
        """Run a changelist action on `objects`, as the action dropdown and Go button do."""
        data = {"action": action, "index": 0, "_selected_action": [o.pk for o in objects]}
        return self.post(changelist, {**data, **fields}, follow=True)


@pytest.fixture
def admin_client(db, django_capture_on_commit_callbacks) -> Iterator[AdminClient]:
    yield AdminClient(django_capture_on_commit_callbacks)
    assert_books_balance()


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser(
        "0700000001", "admin-passphrase-9", first_name="Amina", last_name="Admin"
    )


@pytest.fixture
def arbiter(db) -> User:
    return ArbiterFactory(first_name="Arbi", last_name="Ter")


@pytest.fixture
def clerk(db) -> User:
    """Staff who may look at escrows, disputes and payments, and change nothing."""
    user = EmployerFactory(is_staff=True, first_name="Clara", last_name="Clerk")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["escrow", "mpesa", "payouts", "notifications"],
            codename__startswith="view_",
        )
    )
    return user


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def result_count(response) -> int:
    """The number of rows an admin list shows ("3 results" / the paginator's count)."""
    return response.context["cl"].result_count


def text(response) -> str:
    """The page's visible text, whitespace squeezed."""
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()
