import httpx
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments import payouts, reversals, stk
from payments.daraja import DarajaUnavailable
from payments.inprocess import deliver_in_process
from payments.models import (
    MpesaReversal,
    PayoutStatus,
    ReversalStatus,
    StkPushRequest,
    StkStatus,
)
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


@shared_task(**{**_RETRY, "autoretry_for": (DarajaUnavailable,)})
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


@shared_task(autoretry_for=(httpx.HTTPError,), retry_backoff=2, max_retries=5)
def deliver_callback(url: str, body: str, headers: dict[str, str] | None = None) -> None:
    """A local stand-in (Daraja, Intersend) calling one of our callback URLs."""
    deliver_in_process(url, body, headers)


@shared_task
def local_intersend_settle(reference: str) -> None:
    """The local Intersend finishing a transfer and calling our callback URL, signed."""
    from payments.providers import get_local_intersend

    local = get_local_intersend()
    body, headers = local.callback(reference)
    deliver_in_process(local.callback_url, body, headers)


@shared_task
def local_intasend_settle(tracking_id: str) -> None:
    """The local IntaSend finishing a batch and posting the event to our webhook."""
    from payments.providers import get_local_intasend

    local = get_local_intasend()
    deliver_in_process(local.callback_url, local.event(tracking_id))
