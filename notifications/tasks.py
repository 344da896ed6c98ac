from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import services
from notifications.sms import get_sms_sender


@shared_task(autoretry_for=(OSError,), retry_backoff=2, retry_jitter=True, max_retries=5)
def send_sms(phone_number: str, message: str) -> None:
    """A message that is not kept (it carries a PIN or a reset code)."""
    get_sms_sender().send(phone_number=phone_number, message=message)


@shared_task
def send_notification(delivery_id: int) -> None:
    services.delivery_send(delivery_id=delivery_id)


@shared_task
def notification_sweep() -> int:
    """Periodic: deliveries whose dispatch was lost are sent."""
    stuck = services.deliveries_stuck(older_than=timezone.now() - settings.OUTBOUND_STUCK_AFTER)
    for delivery_id in stuck:
        send_notification.delay(delivery_id)
    return len(stuck)
