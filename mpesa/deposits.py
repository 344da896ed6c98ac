"""Deposits: money received by M-Pesa, matched to an escrow by its reference."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from escrow.models import EscrowContract
from escrow.references import normalise_reference
from escrow.services import escrow_credit
from kazi.events import announce
from mpesa.models import DepositStatus, MpesaDeposit, ProviderCallback
from mpesa.payers import same_payer

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ReceivedPayment:
    """Money M-Pesa says we received. `trans_id` is the key it is applied once under: the C2B
    TransID, or the STK CheckoutRequestID. `paid_at` is M-Pesa's time of payment (for an STK
    query's answer, which has none: when the prompt was sent)."""

    trans_id: str
    amount: Decimal
    bill_ref_number: str
    msisdn: str
    payer_name: str
    trans_time: str
    paid_at: datetime = field(default_factory=timezone.now)
    source: str = MpesaDeposit.Source.C2B
    receipt_number: str = ""

    @property
    def receipt(self) -> str:
        """The M-Pesa receipt: a C2B TransID is one; an STK payment's comes in its callback."""
        if self.source == MpesaDeposit.Source.C2B:
            return self.trans_id
        return self.receipt_number


def callback_received(*, kind: str, body: bytes, remote_addr: str | None) -> ProviderCallback:
    """The raw callback, not yet stored: it is inserted with its outcome, in the transaction of
    its effect (callback_keep), or on its own if that transaction fails (callback_keep_alone)."""
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL: no NULs
    return ProviderCallback(kind=kind, body=text, remote_addr=remote_addr)


def callback_keep(callback: ProviderCallback, outcome: str) -> None:
    """Store the callback with its outcome; one written already (its effect needed its id) is
    updated only if the outcome has changed since."""
    outcome = outcome[:200]
    if callback.pk is None:
        callback.outcome = outcome
        callback.save(force_insert=True)
    elif callback.outcome != outcome:
        callback.outcome = outcome
        callback.save(update_fields=["outcome"])


def callback_keep_alone(callback: ProviderCallback, outcome: str) -> ProviderCallback:
    """The transaction of the callback's effect rolled back, taking the row with it if it was
    written: the callback is stored again, committed on its own, with what happened."""
    kept = ProviderCallback(
        kind=callback.kind, body=callback.body, remote_addr=callback.remote_addr
    )
    callback_keep(kept, outcome)
    return kept


def _already_recorded(
    payment: ReceivedPayment, deposits: QuerySet[MpesaDeposit] | None = None
) -> MpesaDeposit | None:
    """The deposit this payment already made: same key, or the same M-Pesa receipt arriving by
    the other route (an STK payment to a Pay Bill can also be confirmed by C2B)."""
    same = Q(transaction_reference=payment.trans_id)
    if receipt := payment.receipt:
        same |= Q(receipt_number=receipt) | Q(transaction_reference=receipt)
    return (MpesaDeposit.objects.all() if deposits is None else deposits).filter(same).first()


def _reported_otherwise(escrow: EscrowContract, payment: ReceivedPayment) -> MpesaDeposit | None:
    """This payment, already credited to the escrow by a route that could not name it the same
    way: the STK query answers without a receipt, so a payment it credited (under its
    CheckoutRequestID) is recognised when the receipt arrives by C2B, and a C2B payment when
    the query says the prompt was paid. Same escrow, same amount, a payer who can be the same
    and a time within MPESA_SAME_PAYMENT_WINDOW of each other."""
    if payment.source == MpesaDeposit.Source.C2B:
        twins = escrow.deposits.filter(source=MpesaDeposit.Source.STK, receipt_number="")
    elif not payment.receipt:  # an STK prompt paid, by the query's word
        twins = escrow.deposits.filter(source=MpesaDeposit.Source.C2B, stk_request__isnull=True)
    else:
        return None  # a receipt was given: _already_recorded has looked for it
    window = settings.MPESA_SAME_PAYMENT_WINDOW
    twins = twins.filter(
        amount=payment.amount, paid_at__range=(payment.paid_at - window, payment.paid_at + window)
    )
    return next(
        (d for d in twins.order_by("paid_at") if same_payer(d.phone_number, payment.msisdn)), None
    )


def _attach_receipt(deposit: MpesaDeposit, payment: ReceivedPayment) -> None:
    """A deposit known without its receipt gets it from a later report of the same payment."""
    if payment.receipt and not deposit.receipt_number:
        deposit.receipt_number = payment.receipt
        deposit.payer_name = deposit.payer_name or payment.payer_name[:200]
        deposit.save(update_fields=["receipt_number", "payer_name"])


@cache
def _lock_statement() -> str:
    """Written out rather than built by the ORM: building this query (a subquery, an annotation,
    a lock) cost more CPU than all the confirmation's other statements together."""
    quote = connection.ops.quote_name
    escrow, deposit = quote(EscrowContract._meta.db_table), quote(MpesaDeposit._meta.db_table)
    lock = connection.ops.for_update_sql() if connection.features.has_select_for_update else ""
    # Table names from the models; the values are parameters.
    return (
        f"SELECT {escrow}.*, EXISTS(SELECT 1 FROM {deposit} d WHERE d.escrow_contract_id = "  # noqa: S608
        f"{escrow}.id AND d.source = %s AND d.receipt_number = '') AS unnamed_stk "
        f"FROM {escrow} WHERE {escrow}.contract_id = %s {lock}"
    )


def _locked(payment: ReceivedPayment) -> EscrowContract | None:
    """The escrow the bill reference names, found and locked by one statement (None for a
    reference nobody issued). Marked `unnamed_stk` when it holds an STK payment credited without
    its receipt: the only deposit a C2B report of the same payment cannot find by its key."""
    reference = normalise_reference(payment.bill_ref_number)
    if reference is None:  # not a reference we could have issued
        return None
    params = [MpesaDeposit.Source.STK.value, reference]
    return next(iter(EscrowContract.objects.raw(_lock_statement(), params)), None)


@transaction.atomic(savepoint=False)  # the caller's transaction, if any: no savepoint
def deposit_record(*, payment: ReceivedPayment, callback: ProviderCallback | None) -> MpesaDeposit:
    """Apply a payment once, whichever route reports it first (MONEY-SAFETY P2): a replayed key,
    a receipt seen before, or the same payment known without its receipt returns the deposit it
    made the first time. Decided under the escrow's lock, so two routes at once cannot both
    credit it. The C2B confirmation, where nearly every report is new, takes deposit_confirm."""
    escrow = _locked(payment)
    existing = _already_recorded(payment) or (escrow and _reported_otherwise(escrow, payment))
    if existing:
        _attach_receipt(existing, payment)
        return existing
    try:
        with transaction.atomic():
            return _credit(escrow, payment, callback)
    except IntegrityError:
        # The same payment committed by an unmatched delivery while we waited for the locks.
        existing = _already_recorded(payment)
        if existing is None:
            raise
        return existing


def deposit_confirm(*, payment: ReceivedPayment, callback: ProviderCallback) -> MpesaDeposit:
    """A C2B confirmation, in the caller's transaction, with as few statements as it takes: the
    job and escrow locked by one, the raw callback stored with its outcome by the insert the
    deposit needs, and a payment seen before found by the deposit's own unique TransID and
    receipt, not a look first. Such a replay raises IntegrityError, rolling the transaction
    back: the caller answers it with deposit_replayed()."""
    escrow = _locked(payment)
    if escrow is not None and escrow.unnamed_stk and (twin := _reported_otherwise(escrow, payment)):
        _attach_receipt(twin, payment)
        callback_keep(callback, f"the STK payment {twin.transaction_reference}")
        return twin
    return _credit(escrow, payment, callback)


def deposit_replayed(payment: ReceivedPayment) -> MpesaDeposit | None:
    """The deposit a payment made the first time it was reported (None if there is none)."""
    return _already_recorded(payment, MpesaDeposit.objects.select_related("escrow_contract"))


def _credit(
    escrow: EscrowContract | None,
    payment: ReceivedPayment,
    callback: ProviderCallback | None,
) -> MpesaDeposit:
    """Record a new payment (the escrow locked by the caller): credit the escrow what it still
    needs; what follows (the ledger, the work starting, the messages, a surplus paid back) is
    queued or announced by rows written here and carried out after commit."""
    credited = min(payment.amount, escrow.remaining_amount) if escrow else Decimal("0.00")
    deposit = MpesaDeposit(
        transaction_reference=payment.trans_id,
        escrow_contract=escrow,
        bill_ref_number=payment.bill_ref_number[:100],
        amount=payment.amount,
        credited_amount=credited,
        surplus_amount=payment.amount - credited if escrow else Decimal("0.00"),
        phone_number=payment.msisdn[:100],
        payer_name=payment.payer_name[:200],
        transaction_time=payment.trans_time[:14],
        paid_at=payment.paid_at,
        status=DepositStatus.COMPLETED,
        source=payment.source,
        receipt_number=payment.receipt,
    )
    if callback is not None:
        callback_keep(callback, deposit_summary(deposit))
        deposit.callback = callback
    deposit.save(force_insert=True)
    if credited:
        escrow_credit(escrow=escrow, amount=credited, source_key=payment.trans_id)
    if deposit.surplus_amount > 0:
        # Paid more than the escrow needed: money out sends it back (payouts/handlers.py).
        announce("mpesa.surplus_received", deposit_id=deposit.pk)
    return deposit


def deposit_summary(deposit: MpesaDeposit) -> str:
    if deposit.is_unmatched:
        return f"unmatched: KES {deposit.amount} kept for review"
    return (
        f"{deposit.escrow_contract.contract_id}: credited KES {deposit.credited_amount}, "
        f"surplus KES {deposit.surplus_amount}"
    )
