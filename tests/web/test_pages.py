"""The pages as a whole: the app's own 404 (DEBUG on too) and 500, the live money status that
htmx polls, every asset served by the app itself, compressed and light."""

import gzip
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client

from escrow import workflows
from jobs import selectors
from mpesa.models import StkPushRequest
from tests.web.helpers import html, page_ids, text

PAGE_BUDGET = 60 * 1024  # a first visit on 3G, compressed


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "url", ["/jobs/999999/", "/u/999999/", "/no-such-page/", "/jobs/abc/", "/jobs/1/nothing/"]
)
def test_a_wrong_address_is_the_apps_own_404_even_with_debug_on(web, settings, debug, url):
    settings.DEBUG = debug
    response = web.get(url)
    assert response.status_code == 404
    assert "We could not find that page" in text(response)
    assert "Django" not in text(response)  # never the debug page
    assert 'href="/jobs/"' in html(response)


def test_an_address_without_its_slash_is_sent_to_it(web, settings):
    settings.DEBUG = True
    assert web.get("/jobs")["Location"] == "/jobs/"
    response = web.get("/no-such-page", follow=True)
    assert response.status_code == 404
    assert "We could not find that page" in text(response)


def test_the_api_and_the_admin_keep_their_own_404(web, settings):
    response = web.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert web.get("/admin/nothing-here/").status_code in {302, 404}  # the admin's own


def test_a_page_that_fails_is_a_page_and_the_api_stays_json(db, monkeypatch, settings):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "open_jobs", broken)
    client = Client(raise_request_exception=False)
    response = client.get("/jobs/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    monkeypatch.setattr("api.jobs.selectors.jobs_visible_to", broken)
    from accounts.services import user_tokens
    from tests.factories import EmployerFactory

    token = user_tokens(EmployerFactory())["access"]
    response = client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_money_on_the_move_is_watched_by_htmx_until_it_settles(web, story, employer, daraja):
    job = story.posted(employer)
    web.login(employer)
    daraja.faults.hold_callbacks = True  # the customer has not typed their PIN yet
    web.post(f"/jobs/{job.pk}/pay/", {"phone_number": "0712345678"})
    assert StkPushRequest.objects.get().status == "pending"

    page = web.get(f"/jobs/{job.pk}/")
    body = html(page)
    version = re.search(r'data-version="([0-9a-f]+)"', body)[1]
    assert f'hx-get="/jobs/{job.pk}/live/?v={version}"' in body
    assert 'hx-trigger="every 3s"' in body
    assert "htmx-2.min.js" in body  # htmx only where something is watched
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in body  # JS off
    assert "prompt-waiting" in page_ids(page)
    assert "pay-form" not in page_ids(page)  # no second prompt while one waits

    live = web.get(f"/jobs/{job.pk}/live/?v={version}", HTTP_HX_REQUEST="true")
    assert live.status_code == 200
    assert html(live).startswith('<section id="live"')  # the small part only
    assert "<html" not in html(live)
    assert 'hx-trigger="every 3s"' in html(live)

    daraja.faults.hold_callbacks = False
    with story._capture(execute=True):
        daraja.release_held()
    live = web.get(f"/jobs/{job.pk}/live/?v={version}", HTTP_HX_REQUEST="true")
    assert live.status_code == 204
    assert live["HX-Refresh"] == "true"  # the state changed: the whole page reloads

    page = web.get(f"/jobs/{job.pk}/")
    assert "hx-trigger" not in html(page)  # settled: no more polling
    assert "htmx-2.min.js" not in html(page)
    assert "<noscript><meta" not in html(page)


def test_a_payout_under_way_is_watched_too(web, story, employer, worker, daraja):
    job = story.delivered(employer, worker)
    daraja.faults.hold_callbacks = True  # B2C's result not back yet
    web.login(worker)
    story._run(workflows.job_complete, job_id=job.pk)
    page = web.get(f"/jobs/{job.pk}/")
    assert 'data-moving="true"' in html(page)
    assert "updating" in page_ids(page)
    assert 'data-status="processing"' in html(page) or 'data-status="pending"' in html(page)


def test_no_asset_comes_from_another_host(web, story, employer, worker):
    job = story.applied(story.posted(employer), worker)
    pages = [
        "/",
        "/jobs/",
        "/login/",
        "/signup/",
        f"/jobs/{job.pk}/",
        f"/e/{job.escrow.contract_id}/",
    ]
    web.login(employer)
    pages += ["/me/", "/jobs/new/"]
    for url in pages:
        body = html(web.get(url))
        external = re.findall(r'(?:src|href|action)="((?:https?:)?//[^"]*)"', body)
        assert external == [], (url, external)
        assert "@import" not in body
        assert "fonts.googleapis" not in body
    css = Path(finders.find("web/app.css")).read_text(encoding="utf-8")
    assert "url(" not in css
    assert "@import" not in css


def test_static_assets_are_served_compressed_and_revalidate_to_nothing(web):
    """Found in the apps (no collectstatic: tests, the embedded default) they are compressed on
    the way out, and keep whitenoise's ETag, so a repeat visit costs a 304."""
    for path in ["web/app.css", "web/icon.svg", "django_htmx/htmx-2.min.js"]:
        response = web.get(static(path), HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200, path
        assert response["Content-Encoding"] == "gzip", path
        assert "max-age" in response["Cache-Control"], path
        body = gzip.decompress(b"".join(response.streaming_content))
        assert body == Path(finders.find(path)).read_bytes()
        etag = response["ETag"]
        assert not etag.startswith("W/")
        again = web.get(static(path), HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304, path


def test_html_is_compressed_and_the_api_is_left_as_it_was(web, story, employer):
    story.posted(employer)
    response = web.get("/", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert b"Kazi Trust" in gzip.decompress(response.content)
    response = web.get("/api/health/", HTTP_ACCEPT_ENCODING="gzip")
    assert "Content-Encoding" not in response


def _gzipped(path: str) -> int:
    with open(finders.find(path), "rb") as source:
        return len(gzip.compress(source.read(), 9))


def test_every_first_load_fits_in_60_kb_compressed(web, story, employer, worker, daraja):
    """The HTML and every asset it loads, compressed: the server's share of the budget (the
    browser tests measure it again over the wire)."""
    job = story.applied(story.posted(employer), worker, "I painted twenty houses. " * 20)
    web.login(employer)
    daraja.faults.hold_callbacks = True
    web.post(f"/jobs/{job.pk}/pay/", {"phone_number": "0712345678"})  # htmx on this page
    for url in ["/", "/jobs/", f"/jobs/{job.pk}/", "/me/", f"/e/{job.escrow.contract_id}/"]:
        body = web.get(url).content
        assets = re.findall(rb'(?:src|href)="/static/([^"]+)"', body)
        weight = len(gzip.compress(body, 6)) + sum(_gzipped(a.decode()) for a in assets)
        assert weight <= PAGE_BUDGET, (url, weight)


def test_every_page_has_the_language_landmarks_and_labels(web, story, employer):
    job = story.posted(employer)
    web.login(employer)
    for url in ["/", "/jobs/", f"/jobs/{job.pk}/", "/me/", "/jobs/new/"]:
        body = html(web.get(url))
        assert re.search(r'<html lang="en">', body)
        assert "<main" in body
        assert "<nav" in body
        assert "<header" in body
        assert "<footer" in body
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in body
        inputs = re.findall(r"<(?:input|textarea|select)\b[^>]*>", body)
        for tag in inputs:
            if 'type="hidden"' in tag or 'type="submit"' in tag:
                continue
            if 'type="radio"' in tag:
                continue  # labelled by its own <label> around it
            field_id = re.search(r'id="([^"]+)"', tag)
            assert field_id, (url, tag)
            assert f'for="{field_id[1]}"' in body, (url, tag)


def test_collectstatic_gives_hashed_names_that_the_pages_use(web, settings, tmp_path):
    """Production: collectstatic's compressed, hashed copies (far-future caching), and the pages
    ask for those names. Without a manifest (tests, make dev) the plain names still work."""
    from django.core.management import call_command

    assert static("web/app.css") == "/static/web/app.css"  # nothing collected here
    settings.STATIC_ROOT = tmp_path  # Django's test signals give a fresh storage for it
    call_command("collectstatic", interactive=False, verbosity=0)
    url = static("web/app.css")
    assert re.fullmatch(r"/static/web/app\.[0-9a-f]{12}\.css", url), url
    assert (tmp_path / (url.removeprefix("/static/") + ".gz")).exists()
    assert re.search(r"htmx-2\.min\.[0-9a-f]{12}\.js", static("django_htmx/htmx-2.min.js"))
    assert f'href="{url}"' in html(web.get("/"))


def test_the_admins_csrf_failure_stays_djangos(browser, db):
    web = browser(enforce_csrf_checks=True)
    response = web.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    assert "Please send the form again" not in response.content.decode()
