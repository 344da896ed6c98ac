from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kazi.admin_mixins import ReadOnlyMoneyAdmin
from notifications import services
from notifications.models import Notification, NotificationDelivery


class NotificationDeliveryInline(admin.TabularInline):
    model = NotificationDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "address", "status", "last_error", "updated_at", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMoneyAdmin):
    """What people were told, written by the money steps themselves: read only."""

    list_display = ["id", "user", "event", "subject", "created_at"]
    list_filter = ["event", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__phone_number", "key", "subject"]
    inlines = [NotificationDeliveryInline]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyMoneyAdmin):
    list_display = [
        "id",
        "notification",
        "channel",
        "address",
        "status",
        "last_error",
        "updated_at",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    list_select_related = ["notification__user"]
    search_fields = ["address", "notification__key", "last_error"]
    actions = ["send_again"]

    @admin.action(description="Send failed deliveries again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = sum(services.delivery_retry(delivery_id=delivery.pk) for delivery in queryset)
        skipped = len(queryset) - sent
        self.message_user(request, f"{sent} delivery(ies) sent again.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} left alone: only failed deliveries are sent again.",
                messages.WARNING,
            )
