from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from notifications import tasks  # noqa: F401  registers the tasks its services queue by name
