"""Money out's reactions to what the layers below announce (kazi/events.py): money that left an
escrow on chain, and money paid beyond what an escrow needed, are sent to phones. Each runs after
the announcing transaction commits, under the lock of what it pays out; the payout references
derive from it, so a second run cannot record the same money twice (MONEY-SAFETY P12)."""

from escrow.models import EscrowContract, LedgerOperation, LedgerOperationKind
from kazi.events import subscribe
from mpesa.models import MpesaDeposit
from payouts.models import PayoutKind, PayoutRecipient
from payouts.providers.base import mpesa_refusal
from payouts.services import payout_open

# Who gets what once a ledger operation has moved money out of the escrow: (kind, reference
# prefix, suffix) for the worker's part (released) and the employer's part (refunded).
_PARTS = {
    LedgerOperationKind.RELEASE: ((PayoutKind.RELEASE, "PAYOUT_", ""), None),
    LedgerOperationKind.REFUND: (None, (PayoutKind.REFUND, "REFUND_", "")),
    LedgerOperationKind.RESOLVE: (
        (PayoutKind.DISPUTE_SHARE, "SHARE_", "_W"),
        (PayoutKind.DISPUTE_SHARE, "SHARE_", "_E"),
    ),
}


def pay_out_what_left(*, escrow_id: int, operation_id: int) -> None:
    """The chain confirmed money left the escrow: the worker's part to the worker, the
    employer's part back to the employer."""
    escrow = EscrowContract.objects.select_for_update().get(pk=escrow_id)
    op = LedgerOperation.objects.get(pk=operation_id)
    if escrow.payouts.filter(release_tx_hash=op.tx_hash).exists():
        return  # paid out by an earlier run
    code = escrow.contract_id.removeprefix("ESCROW_")
    worker, employer = _PARTS[op.kind]
    if worker and escrow.released_amount > 0:
        kind, prefix, suffix = worker
        assigned = escrow.operations.filter(kind=LedgerOperationKind.ASSIGN).last()
        payout_open(
            kind=kind,
            recipient=PayoutRecipient.EMPLOYEE,
            user=escrow.employee,
            amount=escrow.released_amount,
            reference=f"{prefix}{code}{suffix}",
            escrow=escrow,
            payee=assigned.payee if assigned else "",
            release_tx_hash=op.tx_hash,
        )
    if employer and escrow.refunded_amount > 0:
        kind, prefix, suffix = employer
        payout_open(
            kind=kind,
            recipient=PayoutRecipient.EMPLOYER,
            user=escrow.employer,
            amount=escrow.refunded_amount,
            reference=f"{prefix}{code}{suffix}",
            escrow=escrow,
            release_tx_hash=op.tx_hash,
        )


def pay_back_surplus(*, deposit_id: int) -> None:
    """Paid more than the escrow needed: straight back, if mobile money can pay it (whole
    shillings, KES 10 or more). Otherwise the payout could only fail, and a deposit with a
    payout is never reversed: the surplus stays owed, for the admin's M-Pesa reversal."""
    deposit = MpesaDeposit.objects.select_for_update().get(pk=deposit_id)
    escrow = deposit.escrow_contract
    if deposit.payouts.exists() or mpesa_refusal(deposit.surplus_amount) is not None:
        return
    payout_open(
        kind=PayoutKind.SURPLUS,
        recipient=PayoutRecipient.EMPLOYER,
        user=escrow.employer,
        amount=deposit.surplus_amount,
        reference=f"SURPLUS_{deposit.transaction_reference}",
        escrow=escrow,
        deposit=deposit,
    )


subscribe("escrow.money_left", pay_out_what_left)
subscribe("mpesa.surplus_received", pay_back_surplus)
