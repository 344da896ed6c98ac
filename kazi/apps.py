from django.apps import AppConfig


class KaziConfig(AppConfig):
    name = "kazi"

    def ready(self) -> None:
        from kazi import tasks  # noqa: F401  registers the tasks queued by name
