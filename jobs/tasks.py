from celery import shared_task
from django.utils import timezone

from jobs import selectors, services


@shared_task
def auto_release_sweep() -> int:
    """Periodic: delivered jobs whose silence window has passed are released (each checked again
    under its lock), and employers whose window ends within a day are reminded, once."""
    now = timezone.now()
    for job_id in selectors.jobs_reminder_due(now=now):
        services.job_auto_release_remind(job_id=job_id)
    due = selectors.jobs_release_due(now=now)
    return sum(services.job_auto_release(job_id=job_id) for job_id in due)
