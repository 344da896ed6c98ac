"""Local stand-ins of outside systems (Daraja, Intersend) call our callback URLs through this
process's WSGI app: a real HTTP request as our views see it, with no server needed."""

import threading
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core import signals
from django.db import close_old_connections

_in_process = threading.Lock()


def deliver_in_process(url: str, body: str, headers: dict[str, str] | None = None) -> None:
    """Deliver a callback through this process's WSGI app, from
    loopback, exactly as an HTTP request would arrive. The nested request must not close the
    database connection its caller is using, so (as Django's test client does) connection
    recycling is paused around it."""
    from django.core.wsgi import get_wsgi_application

    split = urlsplit(url)
    host = settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "localhost"
    with _in_process:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            with httpx.Client(
                transport=httpx.WSGITransport(app=get_wsgi_application(), remote_addr="127.0.0.1"),
                base_url=f"http://{host}",
            ) as client:
                client.post(
                    split.path + (f"?{split.query}" if split.query else ""),
                    content=body.encode(),
                    headers={"Content-Type": "application/json", **(headers or {})},
                )
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
