"""Deposits: money received by M-Pesa, matched to an escrow by its reference."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q

from escrow.models import EscrowContract
from escrow.references import normalise_reference
from jobs.models import JobListing
from jobs.services import job_credit_deposit
from payments.models import DepositStatus, MpesaDeposit, ProviderCallback


@dataclass(frozen=True)
class ReceivedPayment:
    """Money M-Pesa says we received. `trans_id` is the key it is applied once under: the C2B
    TransID, or the STK CheckoutRequestID."""

    trans_id: str
    amount: Decimal
    bill_ref_number: str
    msisdn: str
    payer_name: str
    trans_time: str
    source: str = MpesaDeposit.Source.C2B
    receipt_number: str = ""


def callback_store(*, kind: str, body: bytes, remote_addr: str | None) -> ProviderCallback:
    """Keep the raw callback before anything trusts it; committed on its own."""
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL: no NULs
    return ProviderCallback.objects.create(kind=kind, body=text, remote_addr=remote_addr)


def callback_outcome(callback: ProviderCallback, outcome: str) -> None:
    ProviderCallback.objects.filter(pk=callback.pk).update(outcome=outcome[:200])


def _already_recorded(payment: ReceivedPayment) -> MpesaDeposit | None:
    """The deposit this payment already made: same key, or the same M-Pesa receipt arriving by
    the other route (an STK payment to a Pay Bill can also be confirmed by C2B)."""
    receipt = payment.receipt_number or (
        payment.trans_id if payment.source == MpesaDeposit.Source.C2B else ""
    )
    same = Q(transaction_reference=payment.trans_id)
    if receipt:
        same |= Q(receipt_number=receipt) | Q(transaction_reference=receipt)
    return MpesaDeposit.objects.filter(same).first()


@transaction.atomic
def deposit_record(*, payment: ReceivedPayment, callback: ProviderCallback | None) -> MpesaDeposit:
    """Apply a payment once; a replayed key returns the deposit it created the first time."""
    existing = _already_recorded(payment)
    if existing:
        return existing
    reference = normalise_reference(payment.bill_ref_number)
    job = escrow = None
    job_id = (
        EscrowContract.objects.filter(contract_id=reference)
        .values_list("job_listing_id", flat=True)
        .first()
    )
    if job_id is not None:
        job = JobListing.objects.select_for_update().get(pk=job_id)
        escrow = EscrowContract.objects.select_for_update().get(job_listing_id=job_id)
    credited = min(payment.amount, escrow.remaining_amount) if escrow else Decimal("0.00")
    try:
        with transaction.atomic():
            deposit = MpesaDeposit.objects.create(
                transaction_reference=payment.trans_id,
                escrow_contract=escrow,
                bill_ref_number=payment.bill_ref_number[:100],
                amount=payment.amount,
                credited_amount=credited,
                surplus_amount=payment.amount - credited if escrow else Decimal("0.00"),
                phone_number=payment.msisdn[:100],
                payer_name=payment.payer_name[:200],
                transaction_time=payment.trans_time[:14],
                status=DepositStatus.COMPLETED,
                callback=callback,
                source=payment.source,
                # A C2B TransID is the receipt; an STK payment's receipt arrives in its callback.
                receipt_number=(
                    payment.trans_id
                    if payment.source == MpesaDeposit.Source.C2B
                    else payment.receipt_number
                ),
            )
    except IntegrityError:
        # The same TransID committed by a concurrent delivery while we waited for the locks.
        existing = _already_recorded(payment)
        if existing is None:
            raise
        return existing
    if credited:
        job_credit_deposit(job=job, escrow=escrow, amount=credited, source_key=payment.trans_id)
    return deposit


def deposit_summary(deposit: MpesaDeposit) -> str:
    if deposit.is_unmatched:
        return f"unmatched: KES {deposit.amount} kept for review"
    return (
        f"{deposit.escrow_contract.contract_id}: credited KES {deposit.credited_amount}, "
        f"surplus KES {deposit.surplus_amount}"
    )
