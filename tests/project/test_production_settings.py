"""Production never reaches the sandbox: its settings neither install nor import it, M-Pesa is
Safaricom's, and a configuration that would point at a stand-in is refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "KAZI_ENV": "production",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-for-the-test",
    "DJANGO_ALLOWED_HOSTS": "api.kazitrust.co.ke",
    "DATABASE_URL": "postgres://kazi:secret@127.0.0.1:1/kazi",  # never connected to
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "STELLAR_CONTRACT_SERVICE_URL": "https://stellar.internal:8001",
    "STELLAR_CONTRACT_API_KEY": "a-production-key",
    "STELLAR_PAYOUT_ACCOUNT": "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS",
    "MPESA_SHORTCODE": "600000",
    "MPESA_CONSUMER_KEY": "key",
    "MPESA_CONSUMER_SECRET": "secret",
    "MPESA_PASSKEY": "passkey",
    "MPESA_INITIATOR_NAME": "kazi-api",
    "MPESA_SECURITY_CREDENTIAL": "credential",
    "MPESA_CALLBACK_BASE_URL": "https://api.kazitrust.co.ke",
    "MPESA_B2C_SHORTCODE": "3000000",
}
# Everything a production process loads: the apps, every URLconf and view, the Celery tasks, the
# payout provider and the Daraja client it builds.
PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.urls import get_resolver
get_resolver().url_patterns
from kazi.celery import app
app.loader.import_default_modules()
import kazi.urls, mpesa.tasks, mpesa.callbacks, payouts.tasks, payouts.callbacks
from mpesa.daraja import get_daraja
from payouts.providers import get_payout_provider
get_payout_provider()
ours = {"sandbox", *(app.split(".")[0] for app in settings.INSTALLED_APPS)}
stand_ins = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ours and (name.split(".")[0] == "sandbox" or name.endswith("_local"))
)
print(json.dumps({
    "apps": settings.INSTALLED_APPS,
    "stand_ins": stand_ins,
    "daraja": get_daraja().config.base_url,
    "provider": type(get_payout_provider()).__name__,
    "relay": settings.CELERY_BEAT_SCHEDULE.get("announcement-relay"),
    "relay_task": settings.CELERY_BEAT_SCHEDULE["announcement-relay"]["task"] in app.tasks,
}))
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MPESA_", "SANDBOX_"))}
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        env={**keep, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "kazi.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_neither_installs_nor_imports_the_sandbox():
    done = run(PROBE)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [app for app in loaded["apps"] if "sandbox" in app]
    assert loaded["stand_ins"] == []
    assert loaded["daraja"] == "https://api.safaricom.co.ke"  # MPESA_ENV defaults to production
    assert loaded["provider"] == "MpesaB2CProvider"
    # Announcements reach the workers by beat's relay, every second, not a message per request.
    assert loaded["relay"]["schedule"] == 1.0
    assert loaded["relay_task"]


def test_production_refuses_to_be_pointed_at_a_stand_in():
    local_daraja = run("import django; django.setup()", MPESA_ENV="local")
    assert local_daraja.returncode != 0
    assert "MPESA_ENV=local (the sandbox) is refused" in local_daraja.stderr
    console_sms = run("import django; django.setup()", SMS_BACKEND="console")
    assert console_sms.returncode != 0
    assert "SMS_BACKEND=console (the sandbox) is refused" in console_sms.stderr
    local_payouts = run(
        "import django; django.setup()",
        PAYOUT_PROVIDER="intersend",
        INTERSEND_API_URL="local",
        INTERSEND_API_KEY="k",
        INTERSEND_API_SECRET="s",
    )
    assert local_payouts.returncode != 0
    assert "a local payout stand-in is refused" in local_payouts.stderr
