"""When an outside service (Daraja, a payout provider) cannot take a request now: how its answer
says so, and how a task waits before trying again. A 408, a 429 or a 5xx, a timeout or a broken
connection is temporary, never a verdict on the request: the task retries with exponential
backoff and jitter, and never sooner than the service's `Retry-After`."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx
from celery import Task

RETRY_AFTER_MAX = 3600.0  # seconds: a longer wait asked for is capped; the sweep still follows


class Unavailable(Exception):
    """The service could not take the request now. Whether an earlier attempt was carried out
    is unknown until asked; `retry_after` is the wait the service asked for, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @classmethod
    def answered(cls, where: str, response: httpx.Response) -> Self:
        return cls(f"{where}: HTTP {response.status_code}", retry_after(response))


def temporary(status_code: int) -> bool:
    """A timeout, too many requests, or the service's own failure: try again later."""
    return status_code in {408, 429} or status_code >= 500


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (it may be a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


class RetriedWhenUnavailable(Task):
    """A task Celery retries on `Unavailable` (with the backoff and jitter of its autoretry
    options), waiting at least as long as the service asked."""

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        wait = getattr(exc, "retry_after", None)
        if wait is not None and eta is None:
            countdown = max(countdown or 0, wait)
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)


# The options of a task that calls a provider: one that cannot take the request now
# (PayoutUnavailable, DarajaUnavailable) is asked again with exponential backoff and jitter,
# never sooner than its Retry-After.
RETRIED_WHEN_UNAVAILABLE: dict[str, Any] = {
    "base": RetriedWhenUnavailable,
    "autoretry_for": (Unavailable,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}
