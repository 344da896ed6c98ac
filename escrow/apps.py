from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "escrow"

    def ready(self) -> None:
        from escrow import tasks  # noqa: F401  registers the tasks its services queue by name
