"""Telling people about money steps: `notify` writes the message with the step, and the outbound
workers send it after commit. Sending never touches the step: a gateway that is down leaves the
delivery failed (visible in the admin), never the money."""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from kazi.outbound import dispatch_on_commit
from kazi.sms import get_sms_sender
from notifications.messages import Event, render
from notifications.models import Channel, DeliveryStatus, Notification, NotificationDelivery

log = logging.getLogger(__name__)


def notify(*, user: User, event: Event, subject: str, **context: object) -> Notification | None:
    """Tell `user` about `event` concerning `subject` (an escrow or payout reference): by SMS,
    and by email when they have one. Call it inside the step's transaction; the second call for
    the same user, event and subject does nothing."""
    try:
        message = render(event, user.language, context)
    except (KeyError, ValueError, TypeError):
        # A translation with a blank the step does not fill must not undo the step (P16).
        log.exception("%s: the %r text cannot be rendered; sent in English", event, user.language)
        message = render(event, settings.LANGUAGE_CODE, context)
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                user=user,
                event=event,
                key=f"{event}:{subject}",
                subject=message.subject,
                body=message.body,
            )
    except IntegrityError:
        return None  # this step was told already
    addresses = [(Channel.SMS, user.phone_number)] + (
        [(Channel.EMAIL, user.email)] * bool(user.email)
    )
    for channel, address in addresses:
        delivery = NotificationDelivery.objects.create(
            notification=notification, channel=channel, address=address
        )
        dispatch_on_commit("notifications.tasks.send_notification", delivery.pk)
    return notification


def delivery_send(*, delivery_id: int) -> None:
    """Send one delivery, at most once: whoever claims it first sends it."""
    claimed = NotificationDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.SENDING, updated_at=timezone.now())
    if not claimed:
        return
    delivery = NotificationDelivery.objects.select_related("notification").get(pk=delivery_id)
    message = delivery.notification
    try:
        if delivery.channel == Channel.SMS:
            get_sms_sender().send(phone_number=delivery.address, message=message.body)
        else:
            send_mail(
                subject=f"Kazi Trust: {message.subject}",
                message=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[delivery.address],
            )
    except Exception as exc:  # whatever the gateway raised: recorded, the step stands
        log.warning("notification delivery %s failed: %s", delivery_id, type(exc).__name__)
        delivery.status, delivery.last_error = DeliveryStatus.FAILED, str(exc)[:255]
        delivery.save(update_fields=["status", "last_error", "updated_at"])
        return
    delivery.status, delivery.sent_at = DeliveryStatus.SENT, timezone.now()
    delivery.save(update_fields=["status", "sent_at", "updated_at"])


def delivery_retry(*, delivery_id: int) -> bool:
    """An admin sends a failed delivery again."""
    retried = NotificationDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.FAILED
    ).update(status=DeliveryStatus.PENDING, last_error="", updated_at=timezone.now())
    if retried:
        dispatch_on_commit("notifications.tasks.send_notification", delivery_id)
    return bool(retried)


def deliveries_stuck(*, older_than: datetime) -> list[int]:
    """Pending deliveries whose dispatch was lost (the broker was down at commit)."""
    stuck = NotificationDelivery.objects.filter(
        status=DeliveryStatus.PENDING, updated_at__lt=older_than
    )
    return list(stuck.values_list("pk", flat=True))


def notifications_of(user: User) -> QuerySet[Notification]:
    return user.notifications.prefetch_related("deliveries")
