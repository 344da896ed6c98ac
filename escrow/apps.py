from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "escrow"

    def ready(self) -> None:
        from escrow import handlers, tasks  # noqa: F401  what it reacts to; its tasks by name
