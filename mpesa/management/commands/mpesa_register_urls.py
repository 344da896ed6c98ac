from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mpesa.daraja import DarajaError, DarajaUnavailable, get_daraja
from mpesa.daraja.callback_urls import CallbackUrlRefused, callback_url, without_token


class Command(BaseCommand):
    help = "Register our C2B validation and confirmation URLs with Safaricom (Daraja C2B v2)."

    def handle(self, *args: object, **options: object) -> None:
        try:  # in production a registration is once for all: never send one Daraja would refuse
            urls = {
                "confirmation_url": callback_url("mpesa-c2b-confirmation"),
                "validation_url": callback_url("mpesa-c2b-validation"),
            }
        except CallbackUrlRefused as refused:
            raise CommandError(f"Not registered: Daraja would refuse {refused}") from None
        try:
            answer = get_daraja().register_c2b_urls(
                **urls, response_type=settings.MPESA_C2B_RESPONSE_TYPE
            )
        except (DarajaError, DarajaUnavailable) as exc:
            raise CommandError(f"Daraja did not register the URLs: {exc}") from None
        shown = {k: without_token(v) for k, v in urls.items()}  # never print the URL token
        self.stdout.write(
            f"Registered shortcode {settings.MPESA_SHORTCODE} ({settings.MPESA_ENV}): "
            f"confirmation {shown['confirmation_url']}, validation {shown['validation_url']}, "
            f"ResponseType {settings.MPESA_C2B_RESPONSE_TYPE}: {answer.get('ResponseDescription')}"
        )
