"""English and Kiswahili: the switch remembered (a cookie, and user.language for a logged-in
user), pages and their errors in the reader's language, numbers and dates in its format, and a
catalogue with every string of the source translated."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.utils import translation

from accounts.models import UserType
from escrow.models import EscrowStatus, LedgerOperationKind, LedgerOperationStatus
from jobs.models import JobStatus
from mpesa.models import StkStatus
from mpesa.stk import RESULT_MESSAGES
from payouts.models import PayoutKind, PayoutRecipient, PayoutStatus
from tests.web.helpers import field_errors, html, text
from web import errors, labels

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "sw" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def switch(web, language: str, next_url: str = "/jobs/"):
    return web.post("/language/", {"language": language, "next": next_url})


def test_the_switch_is_remembered_in_a_cookie(web, db):
    response = switch(web, "sw")
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"
    cookie = response.cookies["django_language"]
    assert cookie.value == "sw"
    assert int(cookie["max-age"]) >= 365 * 24 * 3600
    page = web.get("/jobs/")
    assert '<html lang="sw">' in html(page)
    assert "Kazi zilizo wazi" in text(page)
    assert page["Content-Language"] == "sw"
    assert '<html lang="en">' in html(web.get("/jobs/", HTTP_COOKIE="django_language=en"))


def test_a_logged_in_user_keeps_their_language_in_their_account(web, employer):
    web.login(employer)
    switch(web, "sw")
    employer.refresh_from_db()
    assert employer.language == "sw"  # their SMS and USSD follow it
    web.client.cookies.clear()  # another browser, the same account
    web.login(employer)
    assert '<html lang="sw">' in html(web.get("/me/"))
    switch(web, "en")
    employer.refresh_from_db()
    assert employer.language == "en"


def test_logging_in_brings_the_accounts_language(web, worker):
    worker.language = "sw"
    worker.save()
    from tests.factories import PASSWORD

    response = web.post("/login/", {"phone_number": "0722000111", "password": PASSWORD})
    assert response.cookies["django_language"].value == "sw"
    assert "Habari, Otieno" in text(web.get("/me/"))


def test_the_browsers_language_is_the_default(web, db):
    page = web.get("/", HTTP_ACCEPT_LANGUAGE="sw-KE,sw;q=0.9,en;q=0.5")
    assert '<html lang="sw">' in html(page)
    assert "Inavyofanya kazi, kwa hatua tatu" in text(page)
    assert '<html lang="en">' in html(web.get("/", HTTP_ACCEPT_LANGUAGE="fr"))


def test_an_unknown_language_changes_nothing(web, employer):
    web.login(employer)
    response = switch(web, "fr")
    assert response.status_code == 302
    employer.refresh_from_db()
    assert employer.language == "en"


def test_a_job_page_in_kiswahili_with_kenyan_numbers_and_dates(web, story, employer, worker):
    employer.language = "sw"
    employer.save()
    job = story.delivered(employer, worker)
    page = web.login(employer).get(f"/jobs/{job.pk}/")
    words = text(page)
    assert '<html lang="sw">' in html(page)
    assert "Nini kinafuata" in words
    assert "Otieno Ouma anasema kazi imeisha" in words
    assert "KES 1,500.00" in words
    assert "Imelipwa kwenye amana" in words
    months = ["Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti",
              "Septemba", "Oktoba", "Novemba", "Desemba", "Disemba"]  # fmt: skip
    assert any(month in words for month in months)
    assert "What happens next" not in words


def test_errors_beside_the_field_are_in_kiswahili(web, employer):
    web.login(employer)
    switch(web, "sw")
    response = web.post("/jobs/new/", {"title": "", "description": "D", "budget": "1500.50"})
    assert field_errors(response, "title") == ["Sehemu hii inahitajika"]
    assert field_errors(response, "budget") == [
        "M-Pesa hutuma shilingi nzima: andika kiasi bila senti."
    ]
    response = web.post("/jobs/new/", {"title": "x" * 201, "description": "D", "budget": "100"})
    assert field_errors(response, "title") == ["Tumia herufi zisizozidi 200 (umeandika 201)."]


def test_signup_errors_are_in_kiswahili(web, db):
    switch(web, "sw")
    response = web.post(
        "/signup/",
        {
            "phone_number": "123",
            "password": "short",
            "first_name": "A",
            "last_name": "B",
            "user_type": "employee",
        },
    )
    assert field_errors(response, "phone_number") == [
        "Weka nambari ya simu ya Kenya, kama 0712 345 678."
    ]
    assert "Tumia angalau herufi 8." in field_errors(response, "password")


def test_the_404_page_is_in_kiswahili_too(web, db):
    switch(web, "sw")
    page = web.get("/hakuna/")
    assert page.status_code == 404
    assert "Hatukuupata ukurasa huo" in text(page)


def test_the_api_stays_in_english_whatever_the_cookie(web, employer):
    switch(web, "sw")
    answer = web.client.post(
        "/api/auth/login/", {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="sw"
    )
    assert answer.status_code == 400
    assert answer.json()["password"] == ["This field is required."]
    assert translation.get_language() in {"en", "en-us"}  # nothing left active after a page


def test_every_status_and_kind_has_a_label():
    choices = {
        "job": JobStatus,
        "escrow": EscrowStatus,
        "payout": PayoutStatus,
        "payout_kind": PayoutKind,
        "recipient": PayoutRecipient,
        "ledger": LedgerOperationKind,
        "ledger_status": LedgerOperationStatus,
        "stk": StkStatus,
        "user_type": UserType,
    }
    for kind, enum in choices.items():
        assert set(labels.LABELS[kind]) == set(enum.values), kind
    assert set(labels.STK_RESULTS) == set(RESULT_MESSAGES)
    for code, message in RESULT_MESSAGES.items():
        assert str(labels.STK_RESULTS[code]) == message


def test_every_refusal_the_pages_translate_is_still_raised_by_a_service():
    """web/errors.py knows refusals by their English text: a service that rewords one must
    reword it there too, or the pages would fall back to a vaguer message."""
    sources = "".join(
        path.read_text()
        for app in ("accounts", "jobs", "escrow", "mpesa", "payouts", "kazi")
        for path in (ROOT / app).rglob("*.py")
    )
    flat = re.sub(r'"\s+f?"', "", sources)  # implicit concatenation across lines
    for message in [*errors.BY_MESSAGE, *errors.BY_PREFIX]:
        assert message in flat, message
    for code in errors.BY_CODE:
        assert f'"{code}"' in sources, code


def _catalogue():
    with PO.open("rb") as source:
        return read_po(source)


def test_every_message_has_a_kiswahili_translation_that_is_not_fuzzy():
    catalogue = _catalogue()
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        elif not all(strings):
            problems.append(("untranslated", message.id))
        elif sorted(PLACEHOLDER.findall(ids[-1])) != sorted(PLACEHOLDER.findall(strings[-1])):
            problems.append(("placeholders differ", message.id))
    assert problems == []


def test_every_string_marked_in_the_source_is_in_the_catalogue(tmp_path):
    """`make messages` run into a copy of the tree: nothing marked for translation is missing
    from locale/sw (Django's makemessages needs GNU gettext; KAZI_REQUIRE_GETTEXT=1 makes its
    absence a failure, as CI wants)."""
    if not shutil.which("xgettext") or not shutil.which("msgmerge"):
        why = "needs GNU gettext (xgettext, msgmerge) for Django's makemessages"
        if os.environ.get("KAZI_REQUIRE_GETTEXT"):
            pytest.fail(f"{why}, and KAZI_REQUIRE_GETTEXT is set", pytrace=False)
        pytest.skip(why)
    skip = shutil.ignore_patterns(
        ".venv", "var", "contracts", "tests", ".git", "__pycache__", ".*cache", ".hypothesis"
    )
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=skip)
    env = {
        **os.environ,
        "KAZI_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "kazi.settings",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale=sw", "--no-obsolete",
         "--add-location=file", "--ignore=var", "--ignore=tests/*"],
        cwd=copy, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (copy / "locale/sw/LC_MESSAGES/django.po").open("rb") as source:
        extracted = read_po(source)
    ours = {(m.context, m.id) for m in _catalogue() if m.id}
    missing = [m.id for m in extracted if m.id and (m.context, m.id) not in ours]
    assert missing == [], "run `make messages` and translate these"
    untranslated = [m.id for m in extracted if m.id and (m.fuzzy or not m.string)]
    assert untranslated == []
