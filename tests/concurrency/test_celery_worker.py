"""Production mode: a real Celery worker process, fed through Redis, with beat inside it (whose
relay hands the worker what was announced), carries out the release and the payout (MONEY-SAFETY
P6 with a real broker): by M-Pesa B2C to the sandbox process over HTTP,
whose result callback reaches this app (Django's live server) over HTTP. Needs PostgreSQL (the
worker must see the test's committed rows) and Redis."""

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from escrow import workflows
from jobs import services as jobs
from kazi.celery import app
from mpesa.deposits import ReceivedPayment, deposit_record
from payouts.models import MobileMoneyPayout
from tests.conftest import assert_books_balance
from tests.factories import EmployeeFactory, EmployerFactory
from tests.sandbox_process import running_sandbox

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox_url(tmp_path):
    with running_sandbox(tmp_path) as url:
        yield url


@pytest.fixture
def worker(settings, tmp_path, monkeypatch, sandbox_url, live_server):
    queue = f"kazi-test-{os.getpid()}"
    monkeypatch.setattr(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app.conf, "broker_url", os.environ["REDIS_URL"])
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    db = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
        f"/{connection.settings_dict['NAME']}",
        "LOCAL_LEDGER_PATH": str(settings.LOCAL_LEDGER_PATH),
        "SANDBOX_URL": sandbox_url,  # the B2C payout goes there, over HTTP
        "MPESA_CALLBACK_BASE_URL": live_server.url,  # and its result comes back here
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "ANNOUNCEMENT_RELAY_SECONDS": "1",  # as in production: beat's relay, not a message each
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(  # noqa: S603 - our own worker
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kazi",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            *("--beat", "--schedule", str(tmp_path / "beat-schedule")),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)


def test_a_real_worker_releases_and_pays(worker, sandbox_url):
    employer, employee = EmployerFactory(), EmployeeFactory()
    job = workflows.job_create(
        employer=employer, title="Paint", description="d", budget=Decimal("1500.00")
    )
    deposit_record(
        payment=ReceivedPayment(
            "RKTQDM7W6S", Decimal("1500.00"), job.escrow.contract_id, "", "", ""
        ),
        callback=None,
    )
    jobs.job_apply(job_id=job.pk, employee=employee)
    workflows.job_assign(job_id=job.pk, employee_id=employee.pk)
    workflows.job_complete(job_id=job.pk)  # committed: the tasks are now in Redis

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        payout = MobileMoneyPayout.objects.filter(escrow_contract=job.escrow).first()
        if payout and payout.status == "completed":
            break
        assert worker.poll() is None, "the worker died"
        time.sleep(0.5)
    payout = MobileMoneyPayout.objects.get(escrow_contract=job.escrow)
    assert payout.status == "completed"
    job.escrow.refresh_from_db()
    assert job.escrow.status == "released"
    assert_books_balance()
    sent = httpx.get(f"{sandbox_url}/_sandbox/deliveries").json()["deliveries"]
    results = [(d["kind"], d["status"], d["answer_status"]) for d in sent]
    assert ("b2c-result", "delivered", 200) in results
    assert payout.transaction_reference == next(
        d["body"]["Result"]["TransactionID"] for d in sent if d["kind"] == "b2c-result"
    )
