"""Announcements: how a lower app tells a higher one that something happened without calling it
(DESIGN §12). `announce()` writes an Announcement row in the caller's transaction; after commit
a worker (Celery; in-process on the embedded default) runs each handler subscribed to its topic,
in a transaction of its own that also marks the row handled, so a reaction happens once. Where
a broker and workers exist (ANNOUNCEMENT_RELAY_SECONDS > 0) the request sends nothing: the relay
(`kazi.tasks.announcement_relay`, on Celery beat's clock) takes every new row in one task, which
keeps the broker off the path of a callback. A handler that raises leaves the row for the
periodic sweep (`kazi.tasks.announcement_sweep`), as does a process that dies before handling."""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kazi.models import Announcement
from kazi.outbound import dispatch_on_commit

log = logging.getLogger(__name__)

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(topic: str, handler: Handler) -> None:
    """Called from a higher app's ready(); the handler gets the announcement's payload as
    keyword arguments and must tolerate being the second to see it (a sweep after a crash)."""
    if handler not in _handlers[topic]:
        _handlers[topic].append(handler)


def announce(topic: str, **payload: int | str) -> None:
    """Write the announcement in the caller's transaction; a worker handles it after commit."""
    announcement = Announcement.objects.create(topic=topic, payload=payload)
    if not settings.ANNOUNCEMENT_RELAY_SECONDS:
        dispatch_on_commit("kazi.tasks.announcement_handle", announcement.pk)


def announcement_handle(announcement_id: int) -> bool:
    """Run the handlers of an unhandled announcement; False if another process has it or had it."""
    try:
        with transaction.atomic():
            found = Announcement.objects.select_for_update(skip_locked=True).filter(
                pk=announcement_id, handled_at__isnull=True
            )
            announcement = found.first()
            if announcement is None:
                return False
            for handler in _handlers[announcement.topic]:
                handler(**announcement.payload)
            found.update(handled_at=timezone.now(), attempts=F("attempts") + 1)
            return True
    except Exception as exc:
        log.exception("announcement %s: a handler failed; the sweep tries again", announcement_id)
        Announcement.objects.filter(pk=announcement_id).update(
            attempts=F("attempts") + 1, last_error=repr(exc)[:500]
        )
        raise


def announcements_unhandled(*, older_than: datetime) -> list[int]:
    waiting = Announcement.objects.filter(handled_at__isnull=True, created_at__lt=older_than)
    return list(waiting.order_by("pk").values_list("pk", flat=True))


def announcements_new(*, limit: int) -> list[int]:
    """Unhandled announcements no handler has tried yet, oldest first; those that failed wait for
    the sweep rather than failing again at every relay tick."""
    waiting = Announcement.objects.filter(handled_at__isnull=True, attempts=0)
    return list(waiting.order_by("pk").values_list("pk", flat=True)[:limit])
