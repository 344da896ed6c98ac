from django.apps import AppConfig


class MpesaConfig(AppConfig):
    name = "mpesa"
    verbose_name = "M-Pesa (money in)"

    def ready(self) -> None:
        from mpesa import checks, tasks  # noqa: F401  the system checks; the tasks queued by name
