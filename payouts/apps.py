from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Payouts (money out)"

    def ready(self) -> None:
        from payouts import handlers, tasks  # noqa: F401  what it reacts to; its tasks by name
