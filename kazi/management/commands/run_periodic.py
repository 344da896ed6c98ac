import signal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from kazi.periodic import PeriodicRunner, celery_runner, entries


class Command(BaseCommand):
    help = (
        "Run every task of CELERY_BEAT_SCHEDULE at its interval in this process, until SIGTERM or "
        "Ctrl-C: Celery beat's job on the embedded default (`make run`). Production runs beat."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument(
            "--tick",
            type=float,
            default=None,
            help="seconds between looks at what is due (default: PERIODIC_TICK_SECONDS)",
        )

    def handle(self, *args: object, **options: object) -> None:
        tick = options["tick"] or settings.PERIODIC_TICK_SECONDS
        try:
            schedule = entries(settings.CELERY_BEAT_SCHEDULE)
            runner = PeriodicRunner(schedule, celery_runner(schedule), tick=tick)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        previous = {
            signum: signal.signal(signum, lambda *_: runner.stop())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        listed = ", ".join(f"{e.name} every {e.every:g}s" for e in schedule)
        self.stdout.write(f"run_periodic: {listed or 'nothing scheduled'}; tick {tick:g}s")
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write(
                "run_periodic: tasks are not eager (REDIS_URL is set): the sweeps run here and "
                "what they dispatch goes to the broker; production runs `celery -A kazi beat`"
            )
        try:
            runner.forever()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("run_periodic: stopped")
