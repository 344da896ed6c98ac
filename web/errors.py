"""A service's refusal, said in the reader's language. Services raise English messages for the
API; the pages show these instead: by the exact message of a refusal whose text never varies, by
how a message with amounts in it begins (tests/web checks each is still raised somewhere), by the
error's code, else by its kind."""

import math

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from kazi.errors import Conflict, DomainError, Forbidden, TooManyAttempts

BY_CODE = {
    "invalid_employee": _("Choose one of the workers who applied."),
    "not_an_applicant": _("Only a worker who applied can be chosen."),
    "amount_too_high": _("That is more than can be asked for now."),
    "mpesa_unavailable": _(
        "M-Pesa is not answering just now. Try again in a minute, or pay by Pay Bill."
    ),
    "mpesa_refused": _(
        "M-Pesa refused the payment request. Check the phone number, or pay by Pay Bill."
    ),
    "invalid_split": _("These shares cannot be paid out. Check them and try again."),
    "invalid_pin": _("A PIN is 4 digits."),
    "pin_locked": _("Too many wrong PINs. Try again in 30 minutes."),
    "invalid_language": _("Choose English or Kiswahili."),
}

BY_MESSAGE = {
    "Only employers can post jobs.": _("Only employers can post jobs."),
    "Only employees can apply for jobs.": _("Only workers can apply for jobs."),
    "This job is no longer taking applications.": _("This job is no longer taking applications."),
    "You have already applied for this job.": _("You have already applied for this job."),
    "Only the worker assigned to this job can deliver it.": _(
        "Only the worker chosen for this job can say it is done."
    ),
    "Only the employer and the assigned worker can dispute this job.": _(
        "Only the employer and the chosen worker can dispute this job."
    ),
    "This job has no dispute.": _("This job has no dispute."),
    "Only the two parties and arbiters can write in a dispute.": _(
        "Only the employer, the worker and arbiters can write in a dispute."
    ),
    "This dispute has been resolved.": _("This dispute has already been decided."),
    "Only arbiters can resolve disputes.": _("Only arbiters can decide disputes."),
    "Only the employer and the worker of this job can rate it.": _(
        "Only the employer and the worker of this job can rate it."
    ),
    "A job can be rated once it is completed or its dispute resolved.": _(
        "A job can be rated once it is completed or its dispute decided."
    ),
    "You have already rated this job.": _("You have already rated this job."),
    "Nothing is owed on this escrow.": _("Nothing is owed on this job."),
    "An account with this phone number or email already exists.": _(
        "An account with this phone number or email already exists."
    ),
    "The budget cannot change once money has been deposited.": _(
        "The budget cannot change once money has been paid in."
    ),
}

# Refusals whose message ends with the amounts of the moment: known by how they begin.
BY_PREFIX = {
    "The shares must be zero or more and add up to": _(
        "The two shares must be zero or more and add up to exactly what the escrow holds."
    ),
    "Mobile money pays whole shillings": _(
        "Mobile money pays whole shillings: give each share without cents."
    ),
    "Mobile money pays at least KES": _(
        "Mobile money pays at least KES 10: give a share of 0 or at least that."
    ),
}


def explain(exc: DomainError) -> str:
    if isinstance(exc, TooManyAttempts):
        minutes = max(1, math.ceil(exc.retry_after / 60))
        return ngettext(
            "Too many failed logins for this account. Try again in %(minutes)d minute.",
            "Too many failed logins for this account. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
    prefixed = (text for start, text in BY_PREFIX.items() if exc.message.startswith(start))
    text = BY_MESSAGE.get(exc.message) or next(prefixed, None) or BY_CODE.get(exc.code)
    if text:
        return str(text)
    if isinstance(exc, Forbidden):
        return gettext("You cannot do that on this job.")
    if isinstance(exc, Conflict):
        return gettext("That cannot be done now: the job has moved on. Here is where it stands.")
    return gettext("That did not work. Check what you typed and try again.")


def too_many_requests(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts from your network. Try again in %(minutes)d minute.",
        "Too many attempts from your network. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
