"""`python -m sandbox` as `make run` starts it: its own process, reached over real HTTP by any
client, calling back over real HTTP from its own threads after a moment, and `make pay`
(`python -m sandbox pay-bill`) paying a running server's escrow through it."""

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

from payments.daraja import get_daraja
from payments.models import MpesaDeposit, ProviderCallback
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
    from jobs.services import job_create
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
    assert sorted(kinds) == ["mpesa_c2b_confirmation", "mpesa_c2b_validation"]
