"""The project's own promises: docs, admin, health, configuration."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import User

ROOT = Path(__file__).resolve().parents[2]


def test_health_reports_each_component(api):
    body = api.anonymous().get("/api/health/").json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "ledger": "ok",
        "broker": "in-process",
        "mpesa": "untested",  # nothing asked of Daraja yet
        "sandbox": "ok",  # the in-process sandbox behind the test harness
    }


def test_health_says_when_the_ledger_is_broken(api, settings, tmp_path):
    from escrow.ledger import get_ledger

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    get_ledger.cache_clear()
    settings.LOCAL_LEDGER_PATH = blocker / "ledger.sqlite3"  # parent is a file: cannot open
    body = api.anonymous().get("/api/health/").json()
    assert body["status"] == "degraded"
    assert body["ledger"].startswith("error")


@pytest.mark.redis
def test_health_reaches_a_real_broker(api, monkeypatch):
    from kazi.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app.conf, "broker_url", os.environ["REDIS_URL"])
    assert api.anonymous().get("/api/health/").json()["broker"] == "ok"
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    assert api.anonymous().get("/api/health/").json()["broker"].startswith("error")


def test_schema_documents_every_endpoint_with_examples(api):
    schema = api.anonymous().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in [
        "/api/auth/register/",
        "/api/auth/login/",
        "/api/auth/refresh/",
        "/api/auth/me/",
        "/api/jobs/",
        "/api/jobs/{job_id}/",
        "/api/jobs/{job_id}/apply/",
        "/api/jobs/{job_id}/applications/",
        "/api/jobs/{job_id}/complete/",
        "/api/jobs/{job_id}/cancel/",
        "/api/callbacks/mpesa/deposit/",
        "/api/health/",
    ]:
        assert path in paths, path
    text = str(schema)
    assert "ESCROW_7KQ2M9XD" in text
    assert "RKTQDM7W6S" in text


def test_swagger_ui_is_served(api):
    response = api.anonymous().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_unknown_api_path_is_a_json_404(api, settings):
    settings.DEBUG = False
    response = api.anonymous().get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "model",
    [
        "accounts/user",
        "jobs/joblisting",
        "jobs/jobapplication",
        "escrow/escrowcontract",
        "escrow/ledgeroperation",
        "mpesa/mpesadeposit",
        "payouts/mobilemoneypayout",
        "mpesa/providercallback",
    ],
)
def test_admin_lists_every_model(client, db, model):
    admin = User.objects.create_superuser(
        "0700000001", "admin-passphrase-9", first_name="A", last_name="Dmin"
    )
    client.force_login(admin)
    app_label, model_name = model.split("/")
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200


def test_admin_cannot_edit_money(client, db, api, employer):
    from escrow.models import EscrowContract

    job = (
        api.as_user(employer)
        .post("/api/jobs/", {"title": "T", "description": "D", "budget": "100.00"})
        .json()
    )
    admin = User.objects.create_superuser(
        "0700000001", "admin-passphrase-9", first_name="A", last_name="Dmin"
    )
    client.force_login(admin)
    escrow = EscrowContract.objects.get(contract_id=job["escrow_contract_id"])
    url = reverse("admin:escrow_escrowcontract_change", args=[escrow.pk])
    client.post(url, {"amount": "1.00", "funded_amount": "100.00"})
    escrow.refresh_from_db()
    assert escrow.amount == 100
    assert escrow.funded_amount == 0


def test_env_example_lists_every_setting_read_from_the_environment():
    settings_source = (ROOT / "kazi" / "settings.py").read_text()
    read = set(re.findall(r'(?:env|env_bool|env_list|required)\(\s*"([A-Z_]+)"', settings_source))
    for source in ("stellar_service/config.py", "sandbox/config.py"):
        reader = r'(?:_env|_int|_number|_stroops|_secrets)\(\s*"([A-Z_]+)"'
        read |= set(re.findall(reader, (ROOT / source).read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - listed == set()


def test_production_refuses_to_start_without_its_secrets():
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DATABASE_URL"}}
    env["KAZI_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "kazi.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yml"))
    assert "/api/jobs/{job_id}/complete/" in (tmp_path / "s.yml").read_text()
