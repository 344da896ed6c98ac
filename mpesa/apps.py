from django.apps import AppConfig


class MpesaConfig(AppConfig):
    name = "mpesa"
    verbose_name = "M-Pesa (money in)"

    def ready(self) -> None:
        from mpesa import checks  # noqa: F401  registers the system checks
