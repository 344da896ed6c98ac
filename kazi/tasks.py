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
    return _handle_each(
        events.announcements_unhandled(older_than=timezone.now() - settings.OUTBOUND_STUCK_AFTER)
    )


@shared_task
def announcement_relay() -> int:
    """Every ANNOUNCEMENT_RELAY_SECONDS (beat): the announcements written since the last tick,
    handled here instead of one broker message per request; returns how many it handled."""
    return _handle_each(events.announcements_new(limit=settings.ANNOUNCEMENT_RELAY_BATCH))


def _handle_each(announcement_ids: list[int]) -> int:
    handled = 0
    for announcement_id in announcement_ids:
        try:
            handled += events.announcement_handle(announcement_id)
        except Exception:  # noqa: S112 - logged by announcement_handle; the next one
            continue
    return handled
