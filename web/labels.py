"""What the pages call each status and kind, in the reader's language. The models' own labels
are the admin's (English); every value of their choices has a label here (tests/web checks)."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import UserType
from escrow.models import EscrowStatus, LedgerOperationKind, LedgerOperationStatus
from jobs.models import JobStatus
from mpesa.models import StkStatus
from payouts.models import PayoutKind, PayoutRecipient, PayoutStatus

LABELS = {
    "job": {
        JobStatus.OPEN: pgettext_lazy("job status", "Open: taking applications"),
        JobStatus.ASSIGNED: pgettext_lazy("job status", "Worker chosen"),
        JobStatus.IN_PROGRESS: pgettext_lazy("job status", "Work under way"),
        JobStatus.DELIVERED: pgettext_lazy("job status", "Work delivered"),
        JobStatus.COMPLETED: pgettext_lazy("job status", "Completed"),
        JobStatus.CANCELLED: pgettext_lazy("job status", "Cancelled"),
        JobStatus.DISPUTED: pgettext_lazy("job status", "In dispute"),
        JobStatus.RESOLVED: pgettext_lazy("job status", "Dispute resolved"),
    },
    "escrow": {
        EscrowStatus.PENDING_DEPOSIT: pgettext_lazy("escrow status", "Waiting for payment"),
        EscrowStatus.FUNDED: pgettext_lazy("escrow status", "Paid in full, held"),
        EscrowStatus.IN_PROGRESS: pgettext_lazy("escrow status", "Held while the work is done"),
        EscrowStatus.COMPLETED: pgettext_lazy("escrow status", "Being released"),
        EscrowStatus.RELEASED: pgettext_lazy("escrow status", "Released to the worker"),
        EscrowStatus.REFUNDED: pgettext_lazy("escrow status", "Refunded to the employer"),
        EscrowStatus.DISPUTED: pgettext_lazy("escrow status", "Frozen by a dispute"),
        EscrowStatus.RESOLVED: pgettext_lazy("escrow status", "Split by an arbiter"),
    },
    "payout": {
        PayoutStatus.PENDING: pgettext_lazy("payout status", "Waiting to be sent"),
        PayoutStatus.PROCESSING: pgettext_lazy("payout status", "Being sent"),
        PayoutStatus.COMPLETED: pgettext_lazy("payout status", "Sent"),
        PayoutStatus.FAILED: pgettext_lazy("payout status", "Failed: will be sent again"),
    },
    "payout_kind": {
        PayoutKind.RELEASE: _("Payment for the work"),
        PayoutKind.REFUND: _("Refund of a cancelled job"),
        PayoutKind.SURPLUS: _("Money paid too much, sent back"),
        PayoutKind.DISPUTE_SHARE: _("Share decided by the arbiter"),
    },
    "recipient": {
        PayoutRecipient.EMPLOYEE: _("to the worker"),
        PayoutRecipient.EMPLOYER: _("to the employer"),
    },
    "ledger": {
        LedgerOperationKind.CREATE: pgettext_lazy("ledger", "Escrow created"),
        LedgerOperationKind.FUND: pgettext_lazy("ledger", "Money paid in"),
        LedgerOperationKind.ASSIGN: pgettext_lazy("ledger", "Worker recorded as payee"),
        LedgerOperationKind.RELEASE: pgettext_lazy("ledger", "Released to the worker"),
        LedgerOperationKind.REFUND: pgettext_lazy("ledger", "Refunded to the employer"),
        LedgerOperationKind.DISPUTE: pgettext_lazy("ledger", "Frozen by a dispute"),
        LedgerOperationKind.RESOLVE: pgettext_lazy("ledger", "Split by an arbiter"),
    },
    "ledger_status": {
        LedgerOperationStatus.PENDING: pgettext_lazy("ledger status", "Waiting for the ledger"),
        LedgerOperationStatus.SUCCEEDED: pgettext_lazy("ledger status", "Confirmed"),
        LedgerOperationStatus.FAILED: pgettext_lazy("ledger status", "Failed: an operator checks"),
    },
    "stk": {
        StkStatus.PENDING: pgettext_lazy("prompt status", "Waiting for the M-Pesa PIN"),
        StkStatus.COMPLETED: pgettext_lazy("prompt status", "Paid"),
        StkStatus.FAILED: pgettext_lazy("prompt status", "Not paid"),
    },
    "user_type": {
        UserType.EMPLOYER: pgettext_lazy("user type", "Employer"),
        UserType.EMPLOYEE: pgettext_lazy("user type", "Worker"),
    },
}

# mpesa.stk.RESULT_MESSAGES, in the reader's language (same keys; tests/web checks).
STK_RESULTS = {
    "0": _("Paid."),
    "1": _("Not enough money in the M-Pesa account."),
    "17": _("M-Pesa declined the payment for now. Try again in a few minutes."),
    "1019": _("The prompt expired before it was answered."),
    "1025": _("M-Pesa could not send the prompt. Try again."),
    "1032": _("The payment was cancelled on the phone."),
    "1037": _("The phone could not be reached. Check it is on and has signal."),
    "2001": _("Wrong M-Pesa PIN."),
}
STK_RESULT_OTHER = _("The payment failed.")


def label(kind: str, value: str) -> str:
    return str(LABELS[kind].get(value, value))


def stk_result(code: str) -> str:
    return str(STK_RESULTS.get(code, STK_RESULT_OTHER))
