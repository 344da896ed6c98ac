"""What each money step says to the people it concerns, in their language (locale/sw holds the
Kiswahili). One text serves SMS and email: it must read well in 160 characters."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_noop

from kazi.money import grouped


class Event(StrEnum):
    DEPOSIT_RECEIVED = "deposit_received"
    ESCROW_FUNDED = "escrow_funded"
    ASSIGNED = "assigned"
    DELIVERED = "delivered"
    RELEASED = "released"
    PAYOUT_SENT = "payout_sent"
    PAYOUT_FAILED = "payout_failed"
    REFUND_SENT = "refund_sent"
    DISPUTE_RAISED = "dispute_raised"
    DISPUTE_RESOLVED = "dispute_resolved"
    AUTO_RELEASE_SOON = "auto_release_soon"


# (subject, text): %-formatted with the step's details.
TEXTS = {
    Event.DEPOSIT_RECEIVED: (
        gettext_noop("Payment received"),
        gettext_noop(
            'Kazi Trust: we received KES %(amount)s for "%(job)s". KES %(owed)s is still to pay '
            "to account %(reference)s."
        ),
    ),
    Event.ESCROW_FUNDED: (
        gettext_noop("Job paid in full"),
        gettext_noop(
            'Kazi Trust: "%(job)s" is paid in full (KES %(amount)s). The money is held safely '
            "until the work is done."
        ),
    ),
    Event.ASSIGNED: (
        gettext_noop("You got the job"),
        gettext_noop(
            'Kazi Trust: you got the job "%(job)s" (KES %(amount)s). Start once it is paid in '
            "full; we will tell you."
        ),
    ),
    Event.DELIVERED: (
        gettext_noop("Work delivered"),
        gettext_noop(
            'Kazi Trust: the worker says "%(job)s" is done. Confirm or dispute by %(deadline)s, '
            "or the money is released to them."
        ),
    ),
    Event.RELEASED: (
        gettext_noop("Money released"),
        gettext_noop(
            'Kazi Trust: KES %(amount)s for "%(job)s" is released to you and is on its way to '
            "your M-Pesa."
        ),
    ),
    Event.PAYOUT_SENT: (
        gettext_noop("Money sent to your M-Pesa"),
        gettext_noop(
            "Kazi Trust: KES %(amount)s for your work has been sent to your M-Pesa (%(receipt)s)."
        ),
    ),
    Event.PAYOUT_FAILED: (
        gettext_noop("We could not send your money"),
        gettext_noop(
            "Kazi Trust: we could not send KES %(amount)s to your M-Pesa (%(reason)s). It is "
            "safe with us; we will try again."
        ),
    ),
    Event.REFUND_SENT: (
        gettext_noop("Money sent back to you"),
        gettext_noop(
            'Kazi Trust: KES %(amount)s from "%(job)s" has been sent back to your M-Pesa '
            "(%(receipt)s)."
        ),
    ),
    Event.DISPUTE_RAISED: (
        gettext_noop("A dispute was raised"),
        gettext_noop(
            'Kazi Trust: %(by)s disputed "%(job)s". The money stays held until an arbiter '
            "decides. Add your side in the app or by USSD."
        ),
    ),
    Event.DISPUTE_RESOLVED: (
        gettext_noop("Dispute resolved"),
        gettext_noop(
            'Kazi Trust: the dispute over "%(job)s" is decided: KES %(to_employee)s to the '
            "worker, KES %(to_employer)s back to the employer."
        ),
    ),
    Event.AUTO_RELEASE_SOON: (
        gettext_noop("Money released within a day"),
        gettext_noop(
            'Kazi Trust: the money for "%(job)s" is released to the worker at %(deadline)s '
            "unless you confirm or dispute before then."
        ),
    ),
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def render(event: Event, language: str, context: dict[str, object]) -> Message:
    """The event's text in `language`, amounts and times written as that language writes them."""
    subject, body = TEXTS[event]
    with translation.override(language):
        shown = {name: _shown(value) for name, value in context.items()}
        return Message(subject=gettext(subject), body=gettext(body) % shown)


def _shown(value: object) -> object:
    if isinstance(value, Decimal):
        return grouped(value)
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    return value
