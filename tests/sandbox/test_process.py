"""`python -m sandbox` as `make run` starts it: its own process, reached over real HTTP by any
client, calling back over real HTTP from its own threads after a moment, and `make pay`
(`python -m sandbox pay-bill`) paying a running server's escrow through it."""

import hmac
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from mpesa.daraja import get_daraja
from mpesa.models import MpesaDeposit, ProviderCallback
from tests.sandbox.conftest import B2C, STK, Caller
from tests.sandbox_process import ROOT, running_sandbox


@pytest.fixture
def server(tmp_path):
    with running_sandbox(tmp_path, SANDBOX_CALLBACK_DELAY_SECONDS="0.5") as url:
        yield url


@pytest.fixture
def listener():
    """A web server of our own that records what is posted to it, and when."""
    received: list[tuple[float, str, dict]] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((time.monotonic(), self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ResultCode": 0, "ResultDesc": "Accepted"}')
            arrived.set()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.received, httpd.arrived = received, arrived
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()


def call(url: str, body: object = None, **headers: str) -> tuple[int, dict]:
    """Plain urllib: a client that is neither ours nor httpx."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def token(server: str, settings) -> str:
    basic = b64encode(f"{settings.MPESA_CONSUMER_KEY}:{settings.MPESA_CONSUMER_SECRET}".encode())
    status, body = call(
        f"{server}/oauth/v1/generate?grant_type=client_credentials",
        Authorization=f"Basic {basic.decode()}",
    )
    assert status == 200, body
    return body["access_token"]


def test_any_client_over_http_and_callbacks_from_another_thread_after_a_moment(
    server, listener, settings
):
    bearer = {"Authorization": f"Bearer {token(server, settings)}"}
    prompt = Caller(None, settings).stk(CallBackURL=f"{listener.url}/stk/")
    started = time.monotonic()
    status, answer = call(f"{server}{STK}", prompt, **bearer)
    answered = time.monotonic()
    assert (status, answer["ResponseCode"]) == (200, "0")
    assert listener.arrived.wait(10)
    (at, path, callback) = listener.received[0]
    assert path == "/stk/"
    assert callback["Body"]["stkCallback"]["CheckoutRequestID"] == answer["CheckoutRequestID"]
    assert at - started >= 0.5 > answered - started  # answered first, called back later
    status, refused = call(f"{server}{STK}", {**prompt, "Amount": "1.5"}, **bearer)
    assert (status, refused["errorCode"]) == (400, "400.002.02")


def test_a_lost_answer_drops_the_connection_after_the_work_is_done(server, settings, listener):
    bearer = {"Authorization": f"Bearer {token(server, settings)}"}
    call(f"{server}/_sandbox/faults", {"daraja": {"lose_answers": 1}})
    payment = Caller(None, settings).b2c(ResultURL=f"{listener.url}/b2c/result/")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        call(f"{server}{B2C}", payment, **bearer)
    assert listener.arrived.wait(10)  # carried out: its result comes all the same
    assert listener.received[0][2]["Result"]["OriginatorConversationID"] == "PAYOUT_7KQ2M9XD"
    status, again = call(f"{server}{B2C}", payment, **bearer)
    assert (status, again["errorCode"]) == (500, "500.002.1001")  # M-Pesa has it already


@pytest.mark.django_db(transaction=True)
def test_make_pay_pays_a_running_server_through_the_sandbox(
    server, live_server, settings, outside_world
):
    from escrow.workflows import job_create
    from tests.factories import EmployerFactory

    outside_world.real_sandbox = True  # the app reaches the sandbox process itself
    settings.SANDBOX_URL = server
    settings.MPESA_CALLBACK_BASE_URL = live_server.url
    get_daraja.cache_clear()
    call_command("mpesa_register_urls")  # as `make run` does once the sandbox is up
    job = job_create(employer=EmployerFactory(), title="T", description="D", budget="1500.00")

    done = subprocess.run(  # noqa: S603 - `make pay REF=... AMOUNT=...`
        [
            sys.executable,
            "-m",
            "sandbox",
            "--url",
            server,
            "pay-bill",
            job.escrow.contract_id,
            "1500",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    paid = json.loads(done.stdout)
    assert paid["validation"]["answer_status"] == paid["confirmation"]["answer_status"] == 200
    deposit = MpesaDeposit.objects.get()
    assert (deposit.escrow_contract, deposit.transaction_reference) == (job.escrow, paid["TransID"])
    assert deposit.phone_number == "2547 ***** 149"
    kinds = ProviderCallback.objects.values_list("kind", flat=True)
    assert list(kinds) == ["mpesa_c2b_confirmation"]  # the validation, read-only, stores nothing


def test_the_payout_providers_news_is_posted_from_the_process_step_by_step(tmp_path, listener):
    """IntaSend's events (with the dashboard's challenge) at each status change, a moment
    apart, and Intersend's callbacks signed as they leave, from the server's own threads."""
    with running_sandbox(
        tmp_path,
        SANDBOX_CALLBACK_DELAY_SECONDS="0.2",
        SANDBOX_INTASEND_WEBHOOK_URL=f"{listener.url}/intasend/",
        SANDBOX_INTERSEND_CALLBACK_URL=f"{listener.url}/intersend/",
        INTASEND_WEBHOOK_CHALLENGE="c",
    ) as server:
        bearer = {"Authorization": "Bearer local-intasend-secret"}
        item = {"name": "A", "account": "254712345678", "amount": 100, "narrative": "x"}
        batch = {"provider": "MPESA-B2C", "currency": "KES", "transactions": [item]}
        status, initiated = call(f"{server}/api/v1/send-money/initiate/", batch, **bearer)
        assert status == 200, initiated
        status, approved = call(f"{server}/api/v1/send-money/approve/", initiated, **bearer)
        assert (status, approved["status"]) == (200, "Confirming balance")
        body = json.dumps(
            {
                "phone_number": "254712345678",
                "amount": "100.00",
                "currency": "KES",
                "reference": "R1",
            }
        ).encode()
        stamp = str(int(time.time()))
        signature = hmac.new(b"local-intersend-secret", f"{stamp}.".encode() + body, "sha256")
        request = urllib.request.Request(  # noqa: S310 - http only
            f"{server}/intersend/payouts/send",
            data=body,
            headers={
                "X-API-Key": "local-intersend-key",
                "X-Timestamp": stamp,
                "X-Signature": signature.hexdigest(),
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            assert answer.status == 202
        deadline = time.monotonic() + 15
        while len(listener.received) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    events = [(at, b) for at, path, b in listener.received if path == "/intasend/"]
    assert [b["status"] for _, b in events] == [
        "Preview and approve",
        "Confirming balance",
        "Sending payment",
        "Completed",
    ]
    assert {b["challenge"] for _, b in events} == {"c"}
    assert events[-1][0] - events[1][0] >= 0.3  # a step at a time, not all at once
    news = [b["status"] for _, path, b in listener.received if path == "/intersend/"]
    assert news == ["processing", "completed"]
