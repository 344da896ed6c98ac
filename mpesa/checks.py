"""Production refuses to start with a callback URL Daraja would refuse (`manage.py check`,
`migrate`): better said at deploy than by Safaricom, or by callbacks that never arrive."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from mpesa.daraja.callback_urls import every_refusal


@register()
def daraja_callback_urls(**kwargs: Any) -> list[Error]:
    if not settings.PRODUCTION:
        return []
    return [
        Error(
            f"Daraja would refuse the callback URL {refusal}.",
            hint="Change MPESA_CALLBACK_BASE_URL (or MPESA_CALLBACK_TOKEN).",
            id="mpesa.E001",
        )
        for refusal in every_refusal()
    ]
