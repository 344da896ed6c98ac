"""Celery beat's job on the embedded default, where there is no beat (and no worker: tasks run
eagerly in-process). `manage.py run_periodic` runs every task of `CELERY_BEAT_SCHEDULE` at its
interval in this process, checking every `PERIODIC_TICK_SECONDS` what is due. A task that raises
is logged and runs again at its next interval. Production runs `celery -A kazi beat` instead."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from celery.schedules import schedule as celery_interval
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@dataclass
class Entry:
    name: str
    task: str
    every: float  # seconds between the starts of two runs
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    due: float = 0.0  # on the runner's clock; 0: at once


def interval_seconds(name: str, value: object) -> float:
    if isinstance(value, bool):
        value = None  # not a number of seconds, whatever Python thinks
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif type(value) is celery_interval:  # celery.schedules.schedule(run_every=...), not crontab
        seconds = value.run_every.total_seconds()
    else:
        raise ImproperlyConfigured(
            f"CELERY_BEAT_SCHEDULE[{name!r}]: the embedded runner takes intervals (seconds, a "
            f"timedelta or celery.schedules.schedule), not {value!r}; run celery beat for that"
        )
    if seconds <= 0:
        raise ImproperlyConfigured(f"CELERY_BEAT_SCHEDULE[{name!r}]: interval must be > 0")
    return seconds


def entries(schedule: dict) -> list[Entry]:
    return [
        Entry(
            name=name,
            task=spec["task"],
            every=interval_seconds(name, spec["schedule"]),
            args=tuple(spec.get("args", ())),
            kwargs=dict(spec.get("kwargs", {})),
        )
        for name, spec in schedule.items()
    ]


def celery_runner(schedule: list[Entry]) -> Callable[[Entry], object]:
    """Runs an entry's task in this process, as a worker would (Celery's request context and
    signals, retries applied eagerly), raising what the task raised. Every task named must be
    registered: a misspelt schedule stops the runner at start, not a minute later."""
    from kazi.celery import app

    app.loader.import_default_modules()  # the apps' tasks modules, as a worker imports them
    unknown = sorted({entry.task for entry in schedule} - set(app.tasks))
    if unknown:
        raise ImproperlyConfigured(f"CELERY_BEAT_SCHEDULE names unknown tasks: {unknown}")

    def run(entry: Entry) -> object:
        close_old_connections()  # as around a request, or a task in a worker: none is kept
        try:
            task = app.tasks[entry.task]
            # throw=True raises the task's error here; .result, not .get(): get() refuses to
            # run inside another task's context, which a test or a task may leave behind.
            return task.apply(args=entry.args, kwargs=entry.kwargs, throw=True).result
        finally:
            close_old_connections()

    return run


class Stopped(BaseException):
    """Raised by the signal handler to leave a sleep at once. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` in a task keeps it."""


class PeriodicRunner:
    def __init__(
        self,
        schedule: list[Entry],
        run: Callable[[Entry], object],
        *,
        tick: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if tick <= 0:
            raise ImproperlyConfigured("PERIODIC_TICK_SECONDS must be > 0")
        self.schedule = schedule
        self.run = run
        self.tick = tick
        self.clock = clock
        self.sleep = sleep
        self.stopping = False
        self.busy = False

    def stop(self) -> None:
        """From a signal handler: finish the task under way, if any, then return. A second
        signal while a task runs abandons it (its transaction rolls back, as in a crash)."""
        if self.stopping or not self.busy:
            self.stopping = True
            raise Stopped
        self.stopping = True

    def run_due(self) -> list[str]:
        """Runs every entry that is due, once; returns their names."""
        ran = []
        for entry in self.schedule:
            if self.stopping:
                break
            now = self.clock()
            if now < entry.due:
                continue
            entry.due = now + entry.every
            ran.append(entry.name)
            self.busy = True
            try:
                self._run_one(entry, now)
            finally:
                self.busy = False
        return ran

    def _run_one(self, entry: Entry, started: float) -> None:
        try:
            result = self.run(entry)
        except Exception:
            logger.exception("%s (%s) failed; next run in %gs", entry.name, entry.task, entry.every)
        else:
            took = (self.clock() - started) * 1000
            logger.info("%s (%s) -> %r in %.0f ms", entry.name, entry.task, result, took)

    def forever(self) -> None:
        """Runs what is due every tick until stop() (SIGTERM, Ctrl-C)."""
        try:
            while not self.stopping:
                self.run_due()
                if not self.stopping:
                    self.sleep(self.tick)
        except Stopped:
            pass
