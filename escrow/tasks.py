from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escrow import selectors, services
from escrow.ledger import LedgerUnavailable


@shared_task(
    autoretry_for=(LedgerUnavailable,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def ledger_sync(escrow_id: int) -> None:
    services.ledger_sync(escrow_id=escrow_id)


@shared_task
def ledger_sweep() -> int:
    """Periodic: escrows whose ledger operations waited too long are synced again."""
    stuck = selectors.escrows_with_stuck_operations(
        older_than=timezone.now() - settings.OUTBOUND_STUCK_AFTER
    )
    for escrow_id in stuck:
        ledger_sync.delay(escrow_id)
    return len(stuck)
