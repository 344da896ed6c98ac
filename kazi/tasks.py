from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kazi import events
from kazi.sms import get_sms_sender


@shared_task(autoretry_for=(OSError,), retry_backoff=2, retry_jitter=True, max_retries=5)
def send_sms(phone_number: str, message: str) -> None:
    """A message that is not kept (it carries a PIN or a reset code)."""
    get_sms_sender().send(phone_number=phone_number, message=message)


@shared_task
def announcement_handle(announcement_id: int) -> None:
    events.announcement_handle(announcement_id)


@shared_task
def announcement_sweep() -> int:
    """Periodic: announcements whose handlers did not run (a crash after commit, a handler that
    failed) are handled now; returns how many this run handled."""
    waiting = events.announcements_unhandled(
        older_than=timezone.now() - settings.OUTBOUND_STUCK_AFTER
    )
    handled = 0
    for announcement_id in waiting:
        try:
            handled += events.announcement_handle(announcement_id)
        except Exception:  # noqa: S112 - logged by announcement_handle; the next one
            continue
    return handled
