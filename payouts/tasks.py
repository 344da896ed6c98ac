from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kazi.unavailable import RETRIED_WHEN_UNAVAILABLE
from payouts import services as payouts
from payouts.models import PayoutStatus


@shared_task(**RETRIED_WHEN_UNAVAILABLE)
def payout_send(payout_id: int) -> None:
    payouts.payout_send(payout_id=payout_id)


@shared_task(**RETRIED_WHEN_UNAVAILABLE)
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
