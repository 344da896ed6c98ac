from django.conf import settings
from django.db import models


class Notification(models.Model):
    """What a person is told about a money step, in their language. Written in the step's
    transaction; `key` names the step (event and subject), so a step that runs again writes
    nothing new and nobody hears of it twice (MONEY-SAFETY P16)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=40)
    key = models.CharField(max_length=160)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_notification_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.user}"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class NotificationDelivery(models.Model):
    """One notification by one channel, sent after commit by the outbound workers, at most once:
    a worker claims it (pending -> sending) before handing it to the SMS gateway or mail server,
    and a delivery that failed stays failed until an admin sends it again."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    address = models.CharField(max_length=254, help_text="The phone number or email it goes to")
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    last_error = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="one_delivery_per_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.notification} by {self.channel} ({self.status})"
