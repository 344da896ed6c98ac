"""The outside world as every test sees it (tests/conftest.py mounts it for each test).

The app's real clients make real HTTP requests; respx catches them at the connection level and
routes them by where they go, so a wrong host, port, scheme or path fails here as it would in
production:

- SANDBOX_URL's scheme, host and port: the sandbox (`sandbox/`), in-process, its state in the
  test's tmp_path; its Daraja, IntaSend and Intersend know the credentials in the test's settings
  (as they stand when the test starts), our C2B URLs are registered with its Daraja as `make run`
  registers them, and IntaSend's webhook (with the challenge) and Intersend's callback URL point
  at this app;
- MPESA_CALLBACK_BASE_URL's: this Django app, through its WSGI handler in-process, from
  127.0.0.1 (connection recycling paused around the nested request, as Django's test client
  does, so it does not close the database connection its caller is using);
- any other loopback port but `make run`'s: passed through to the real network (processes that
  e2e tests start; nothing listening is a real ConnectError);
- anywhere else: httpx.ConnectError, unless a test mounted its own respx routes for it.

The sandbox's callbacks leave, and its providers take their later steps (an IntaSend batch going
from approved to sending to completed, an Intersend payout to processing and completed), when the
current database transaction commits (immediately when there is none): an `api` request's
callbacks arrive after its commit. In a `db` test nothing commits: wrap the call in
`django_capture_on_commit_callbacks(execute=True)` or call
`sandbox.deliveries.deliver_pending()`."""

import threading

import httpx
import respx
from django.conf import settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from django.urls import reverse
from respx.mocks import HTTPCoreMocker

from mpesa.daraja.callback_urls import unchecked_callback_url
from sandbox import Sandbox, build
from sandbox.config import Config, DarajaAccount, IntasendAccount, IntersendAccount
from sandbox.deliver import Job

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# `make run`'s ports: a developer's running server there must never answer a test.
MAKE_RUN_PORTS = {8000, 8001, 8002}
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> tuple[str, str, int]:
    url = httpx.URL(url)
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme, 0)


class OnCommit:
    """The sandbox's scheduler in tests: a callback leaves when the transaction that caused it
    commits, at once when there is none. Tried once: a URL nobody answers fails."""

    def schedule(self, job: Job) -> None:
        if connection.in_atomic_block:
            transaction.on_commit(lambda: job(True))
        else:
            job(True)


class InProcessApp:
    """This Django app answering an HTTP request, in this process, from 127.0.0.1."""

    _lock = threading.RLock()
    _depth = 0

    def __init__(self) -> None:
        self.handler = None  # Django's WSGI handler, built at the first request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if InProcessApp._depth == 0:
                signals.request_started.disconnect(close_old_connections)
                signals.request_finished.disconnect(close_old_connections)
            InProcessApp._depth += 1
            try:
                self.handler = self.handler or get_wsgi_application()
                transport = httpx.WSGITransport(app=self.handler, remote_addr="127.0.0.1")
                answer = transport.handle_request(request)
                content = answer.read()
            finally:
                InProcessApp._depth -= 1
                if InProcessApp._depth == 0:
                    signals.request_started.connect(close_old_connections)
                    signals.request_finished.connect(close_old_connections)
        return httpx.Response(answer.status_code, headers=answer.headers, content=content)


def our_url(name: str) -> str:
    return settings.MPESA_CALLBACK_BASE_URL.rstrip("/") + reverse(name)


def sandbox_for_tests(path: object) -> Sandbox:
    """The sandbox, its stand-ins holding the credentials of the test's settings."""
    daraja = DarajaAccount(
        shortcode=settings.MPESA_SHORTCODE,
        consumer_key=settings.MPESA_CONSUMER_KEY,
        consumer_secret=settings.MPESA_CONSUMER_SECRET,
        passkey=settings.MPESA_PASSKEY,
        initiator_name=settings.MPESA_INITIATOR_NAME,
        security_credential=settings.MPESA_SECURITY_CREDENTIAL,
        b2c_shortcode=settings.MPESA_B2C_SHORTCODE,
    )
    intasend = IntasendAccount(
        secret_key=settings.INTASEND_SECRET_KEY,
        webhook_url=our_url("intasend-payout-callback"),
        challenge=settings.INTASEND_WEBHOOK_CHALLENGE,
    )
    intersend = IntersendAccount(
        api_key=settings.INTERSEND_API_KEY,
        api_secret=settings.INTERSEND_API_SECRET,
        callback_url=our_url("intersend-payout-callback"),
    )
    config = Config(
        db_path=path, callback_delay=0, daraja=daraja, intasend=intasend, intersend=intersend
    )
    return build(config, scheduler=OnCommit())


class OutsideWorld:
    def __init__(self, store_path: object) -> None:
        self.sandbox = sandbox_for_tests(store_path)
        self.app = InProcessApp()
        self.real_sandbox = False  # True: SANDBOX_URL is a real sandbox process; pass through
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self.router.route().mock(side_effect=self.dispatch)

    def __enter__(self) -> "OutsideWorld":
        self.router.start()
        # As `make run` does with `manage.py mpesa_register_urls` once the sandbox is up.
        self.sandbox.daraja.register(
            confirmation_url=unchecked_callback_url("mpesa-c2b-confirmation"),
            validation_url=unchecked_callback_url("mpesa-c2b-validation"),
            response_type=settings.MPESA_C2B_RESPONSE_TYPE,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.router.stop()

    def dispatch(self, request: httpx.Request) -> httpx.Response | httpx.Request | None:
        target = origin(request.url)
        if target == origin(settings.SANDBOX_URL) and not self.real_sandbox:
            return self.sandbox.handle_request(request)
        if target == origin(settings.MPESA_CALLBACK_BASE_URL):
            return self.app(request)
        if target[1] in LOOPBACK and target[2] not in MAKE_RUN_PORTS:
            return request  # pass through: a process an e2e test started, or nobody
        if any(router is not self.router for router in HTTPCoreMocker.routers):
            return None  # not ours to answer: a test's own respx routes may know it
        raise httpx.ConnectError(
            f"{target[0]}://{target[1]}:{target[2]} cannot be reached from the tests",
            request=request,
        )
