"""The periodic runner (`manage.py run_periodic`): Celery beat's job on the embedded default."""

import logging
import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from celery import shared_task
from celery.schedules import crontab, schedule
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from kazi.periodic import Entry, PeriodicRunner, celery_runner, entries

CALLS: list[str] = []


@shared_task(name="tests.periodic.probe")
def probe(label: str = "probe") -> str:
    CALLS.append(label)
    return label


@shared_task(name="tests.periodic.broken")
def broken() -> None:
    CALLS.append("broken")
    raise RuntimeError("the provider is down")


@shared_task(name="tests.periodic.terminate_self")
def terminate_self() -> None:
    """SIGTERM while a task runs: the runner finishes this task, then stops."""
    CALLS.append("terminate_self:start")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler has run by now: the task still gets to finish
    CALLS.append("terminate_self:end")


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()


class FakeTime:
    """A clock that moves only when the runner sleeps; stops the runner after `until`."""

    def __init__(self, until: float) -> None:
        self.now = 0.0
        self.until = until
        self.runner: PeriodicRunner | None = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.until:
            self.runner.stopping = True


def run_for(seconds: float, schedule: list[Entry], tick: float) -> list[tuple[float, str]]:
    fake = FakeTime(seconds)
    ran: list[tuple[float, str]] = []

    def run(entry: Entry) -> object:
        ran.append((fake.now, entry.name))
        if entry.task == "broken":
            raise RuntimeError("the provider is down")
        return 0

    fake.runner = PeriodicRunner(schedule, run, tick=tick, clock=fake.clock, sleep=fake.sleep)
    fake.runner.forever()
    return ran


def test_each_task_runs_at_once_then_at_its_interval():
    schedule = entries(
        {
            "fast": {"task": "a", "schedule": 20.0},
            "slow": {"task": "b", "schedule": timedelta(minutes=1)},
        }
    )
    ran = run_for(120, schedule, tick=10)
    assert [t for t, name in ran if name == "fast"] == [0, 20, 40, 60, 80, 100, 120]
    assert [t for t, name in ran if name == "slow"] == [0, 60, 120]


def test_an_interval_shorter_than_the_tick_runs_every_tick():
    ran = run_for(30, entries({"often": {"task": "a", "schedule": 1}}), tick=10)
    assert [t for t, _ in ran] == [0, 10, 20, 30]


def test_a_task_that_raises_is_logged_and_the_others_keep_running(caplog):
    schedule = entries(
        {
            "broken": {"task": "broken", "schedule": 60},
            "healthy": {"task": "a", "schedule": 60},
        }
    )
    with caplog.at_level(logging.INFO, logger="kazi.periodic"):
        ran = run_for(60, schedule, tick=10)
    assert ran == [(0, "broken"), (0, "healthy"), (60, "broken"), (60, "healthy")]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 2
    assert "broken (broken) failed; next run in 60s" in failures[0].getMessage()
    assert failures[0].exc_info[1].args == ("the provider is down",)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(60.0, 60.0), (5, 5.0), (timedelta(minutes=2), 120.0), (schedule(30), 30.0)],
)
def test_intervals_are_read_as_beat_reads_them(value, seconds):
    [entry] = entries({"x": {"task": "t", "schedule": value, "args": [1], "kwargs": {"a": 2}}})
    assert (entry.every, entry.args, entry.kwargs) == (seconds, (1,), {"a": 2})


@pytest.mark.parametrize("value", [crontab(minute="*/5"), 0, -1, True, "60"])
def test_what_only_beat_understands_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match=r"CELERY_BEAT_SCHEDULE\['x'\]"):
        entries({"x": {"task": "t", "schedule": value}})


def test_the_projects_schedule_names_registered_tasks(settings):
    celery_runner(entries(settings.CELERY_BEAT_SCHEDULE))  # raises on a misspelt task


def test_a_misspelt_task_stops_the_command_at_start(settings):
    settings.CELERY_BEAT_SCHEDULE = {"typo": {"task": "escrow.tasks.ledger_swep", "schedule": 60}}
    with pytest.raises(CommandError, match=r"unknown tasks: \['escrow.tasks.ledger_swep'\]"):
        call_command("run_periodic")


@pytest.fixture
def runner_log():
    """What the runner logs (caplog's root handler does not survive Celery's loader, which
    configures Django's logging again, as a worker does)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("kazi.periodic")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)  # connections closed around each run
def test_the_command_runs_celery_tasks_and_survives_one_raising(settings, runner_log):
    """Real Celery tasks, run in-process; SIGTERM during a task lets it finish, then stops."""
    settings.CELERY_BEAT_SCHEDULE = {
        # Long intervals: however slow the machine, nothing is due twice before the SIGTERM.
        "probe": {"task": "tests.periodic.probe", "schedule": 30, "args": ["tick"]},
        "broken": {"task": "tests.periodic.broken", "schedule": 30},
        "stop": {"task": "tests.periodic.terminate_self", "schedule": 30},
    }
    before = signal.getsignal(signal.SIGTERM)
    call_command("run_periodic", "--tick", "0.05")
    # The first round runs all three; the SIGTERM comes during the last: no second round.
    assert CALLS == ["tick", "broken", "terminate_self:start", "terminate_self:end"]
    logged = [(r.levelname, r.getMessage()) for r in runner_log]
    assert logged[0][0] == "INFO"
    assert logged[0][1].startswith("probe (tests.periodic.probe) -> 'tick' in ")
    assert logged[1] == ("ERROR", "broken (tests.periodic.broken) failed; next run in 30s")
    assert runner_log[1].exc_info[1].args == ("the provider is down",)
    assert logged[2][1].startswith("stop (tests.periodic.terminate_self) -> None in ")
    assert signal.getsignal(signal.SIGTERM) is before  # handlers put back


@pytest.mark.django_db(transaction=True)  # connections closed around each run
def test_the_command_keeps_ticking_until_sigterm_which_ends_a_sleep_at_once(settings):
    settings.CELERY_BEAT_SCHEDULE = {"probe": {"task": "tests.periodic.probe", "schedule": 0.1}}
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    try:
        call_command("run_periodic", "--tick", "0.1")
    finally:
        timer.cancel()
    assert 0.45 < time.monotonic() - started < 2
    assert 3 <= len(CALLS) <= 7  # every 0.1 s for 0.5 s

    CALLS.clear()  # a long tick: the sleep is cut short by the signal, not waited out
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    try:
        call_command("run_periodic", "--tick", "30")
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2
    assert CALLS == ["probe"]
