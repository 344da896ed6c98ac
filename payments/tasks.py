from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments import payouts
from payments.models import PayoutStatus
from payments.providers import PayoutUnavailable, get_payout_provider

_RETRY = {
    "autoretry_for": (PayoutUnavailable,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**_RETRY)
def payout_send(payout_id: int) -> None:
    payouts.payout_send(payout_id=payout_id)


@shared_task(**_RETRY)
def payout_check(payout_id: int) -> None:
    payouts.payout_check(payout_id=payout_id)


@shared_task
def payout_sweep() -> int:
    """Periodic: payouts not sent, or whose outcome never arrived, are sent or checked again."""
    stuck = payouts.payouts_stuck(older_than=timezone.now() - settings.OUTBOUND_STUCK_AFTER)
    for payout_id in stuck[PayoutStatus.PENDING]:
        payout_send.delay(payout_id)
    for payout_id in stuck[PayoutStatus.PROCESSING]:
        payout_check.delay(payout_id)
    return sum(len(ids) for ids in stuck.values())


@shared_task
def local_payout_callback(reference: str) -> None:
    """The local provider finishing a transfer and calling us back with the outcome."""
    result = get_payout_provider().settle(reference)
    payouts.payout_apply_result(reference=reference, result=result)
