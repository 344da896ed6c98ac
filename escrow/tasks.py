from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escrow import selectors, services, workflows
from escrow.ledger import LedgerUnavailable
from jobs import selectors as job_selectors
from jobs import services as job_services


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


@shared_task
def auto_release_sweep() -> int:
    """Periodic: delivered jobs whose silence window has passed are released (each checked again
    under its lock), and employers whose window ends within a day are reminded, once."""
    now = timezone.now()
    for job_id in job_selectors.jobs_reminder_due(now=now):
        job_services.job_auto_release_remind(job_id=job_id)
    due = job_selectors.jobs_release_due(now=now)
    return sum(workflows.job_auto_release(job_id=job_id) for job_id in due)
