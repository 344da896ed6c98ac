"""Outbound work leaves only after the transaction that decided it has committed."""

from django.db import transaction

from kazi.celery import app as celery_app


def dispatch_on_commit(task_name: str, *args: object) -> None:
    """Queue the Celery task `task_name` once the current transaction commits; if the broker is
    down the row that records the intent is still there and the periodic sweep dispatches it
    again. Named, not imported: a service never imports the tasks module built on it (each app's
    ready() registers its tasks)."""
    transaction.on_commit(lambda: celery_app.tasks[task_name].delay(*args), robust=True)
