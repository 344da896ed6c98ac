from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.daraja.local import c2b_payload, pay_bill


class Command(BaseCommand):
    help = (
        "Play a customer paying by M-Pesa Pay Bill against a running server: Safaricom's "
        "validation call, then its confirmation, with the real payloads."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("reference", help="the account number typed, e.g. ESCROW_7KQ2M9XD")
        parser.add_argument("amount", help="KES, e.g. 1500")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--trans-id", help="M-Pesa TransID (default: a new one)")

    def handle(self, *args: object, **options: object) -> None:
        try:
            amount = Decimal(options["amount"])
        except InvalidOperation:
            raise CommandError(f"{options['amount']!r} is not an amount") from None
        payload = c2b_payload(
            shortcode=settings.MPESA_SHORTCODE,
            reference=options["reference"],
            amount=amount,
            trans_id=options["trans_id"],
        )
        try:
            with httpx.Client(base_url=options["base_url"], timeout=10) as http:
                answers = pay_bill(http, payload)
        except httpx.HTTPError as exc:
            raise CommandError(f"no server at {options['base_url']}: {exc}") from None
        self.stdout.write(f"M-Pesa {payload['TransID']}: KES {amount} to {options['reference']}")
        for step, answer in answers.items():
            self.stdout.write(f"  {step}: {answer}")
        if "confirmation" not in answers:
            raise CommandError("the payment was refused at validation; M-Pesa cancels it")
