from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kazi.unavailable import RETRIED_WHEN_UNAVAILABLE
from mpesa import reversals, stk
from mpesa.models import MpesaReversal, ReversalStatus, StkPushRequest, StkStatus


@shared_task(**RETRIED_WHEN_UNAVAILABLE)
def reversal_send(reversal_id: int) -> None:
    reversals.reversal_send(reversal_id=reversal_id)


@shared_task
def mpesa_reconcile() -> int:
    """Periodic: prompts with no callback after MPESA_STK_TIMEOUT are resolved by STK query;
    reversals with no result after OUTBOUND_STUCK_AFTER by Transaction Status."""
    cutoff = timezone.now() - settings.MPESA_STK_TIMEOUT
    stale = StkPushRequest.objects.filter(status=StkStatus.PENDING, created_at__lt=cutoff)
    for request in stale:
        stk.stk_resolve_by_query(stk=request)
    waiting = MpesaReversal.objects.filter(
        status=ReversalStatus.SUBMITTED,
        updated_at__lt=timezone.now() - settings.OUTBOUND_STUCK_AFTER,
    ).select_related("deposit")
    for reversal in waiting:
        reversals.reversal_check(reversal=reversal)
    return len(stale) + len(waiting)
