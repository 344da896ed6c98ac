from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import services


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
