from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.daraja import DarajaError, DarajaUnavailable, callback_url, get_daraja


class Command(BaseCommand):
    help = "Register our C2B validation and confirmation URLs with Safaricom (Daraja C2B v2)."

    def handle(self, *args: object, **options: object) -> None:
        urls = {
            "confirmation_url": callback_url("mpesa-c2b-confirmation"),
            "validation_url": callback_url("mpesa-c2b-validation"),
        }
        try:
            answer = get_daraja().register_c2b_urls(
                **urls, response_type=settings.MPESA_C2B_RESPONSE_TYPE
            )
        except (DarajaError, DarajaUnavailable) as exc:
            raise CommandError(f"Daraja refused the registration: {exc}") from None
        shown = {k: v.split("?")[0] for k, v in urls.items()}  # never print the URL token
        self.stdout.write(
            f"Registered shortcode {settings.MPESA_SHORTCODE} ({settings.MPESA_ENV}): "
            f"confirmation {shown['confirmation_url']}, validation {shown['validation_url']}, "
            f"ResponseType {settings.MPESA_C2B_RESPONSE_TYPE}: {answer.get('ResponseDescription')}"
        )
