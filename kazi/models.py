from django.db import models


class Announcement(models.Model):
    """A state change a higher layer reacts to, written in the transaction that made it and
    handled after commit (kazi/events.py): the row is the promise that the reaction happens,
    even if the process dies between the commit and the handler."""

    topic = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="announcement_unhandled",
                condition=models.Q(handled_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.payload}"
