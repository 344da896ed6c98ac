"""Outbound work leaves only after the transaction that decided it has committed."""

import logging

from celery import Task
from django.db import transaction

log = logging.getLogger(__name__)


def dispatch_on_commit(task: Task, *args: object) -> None:
    """Queue `task` once the current transaction commits; if the broker is down the row that
    records the intent is still there and the periodic sweep dispatches it again."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)
