"""The sandbox's router: the control API, the same answers in-process and through WSGI, state that
survives a restart, and the server's deliverer (a delay, then retries on connection errors)."""

import threading
import time

import httpx
import pytest

from sandbox import Sandbox, build
from sandbox.config import Config
from sandbox.daraja import Daraja
from sandbox.deliver import Background
from tests.sandbox.conftest import B2C, OUR, STK, Caller


@pytest.fixture
def control(sandbox):
    return httpx.Client(transport=sandbox, base_url="http://127.0.0.1:8002/_sandbox/")


def test_health_and_unknown_actions(control):
    assert control.get("health").json() == {
        "status": "ok",
        "providers": ["daraja", "intasend", "intersend"],
    }
    assert control.post("nothing").status_code == 404
    assert control.get("pay-bill").status_code == 405
    assert control.post("faults", content=b"{oops").status_code == 400


def test_faults_are_read_set_checked_and_reset(control, daraja):
    assert control.get("faults").json()["daraja"]["b2c_reject"] == 0
    answer = control.post("faults", json={"daraja": {"b2c_reject": 2, "hold_callbacks": True}})
    assert answer.json()["daraja"]["b2c_reject"] == 2
    assert (daraja.faults.b2c_reject, daraja.faults.hold_callbacks) == (2, True)
    for wrong in (
        {"daraja": {"no_such_switch": 1}},
        {"daraja": {"b2c_reject": "2"}},
        {"daraja": {"hold_callbacks": 1}},
        {"intasend": {"reject": True}},
        {"airtel": {"reject": 1}},
    ):
        assert control.post("faults", json=wrong).status_code == 400
    assert daraja.faults.b2c_reject == 2  # a refused change changes nothing
    control.delete("faults")
    assert (daraja.faults.b2c_reject, daraja.faults.hold_callbacks) == (0, False)


def test_held_callbacks_are_released_and_everything_is_listed(control, caller, sandbox, daraja):
    daraja.faults.hold_callbacks = True
    caller.post(B2C, caller.b2c())
    held = control.get("deliveries").json()["deliveries"]
    assert [(d["kind"], d["status"]) for d in held] == [("b2c-result", "held")]
    assert control.post("release-held").json() == {"released": 1}
    (sent,) = control.get("deliveries").json()["deliveries"]
    assert (sent["status"], sent["url"]) == ("failed", f"{OUR}/b2c/result/")  # nobody there
    assert sent["error"].startswith("ConnectError")
    seen = control.get("requests", params={"limit": 2}).json()["requests"]
    assert [(r["path"], r["status"]) for r in seen] == [(B2C, 200), ("/oauth/v1/generate", 200)]


def test_pay_bill_through_the_control_api(control, daraja):
    daraja.faults.external_validation = False
    answer = control.post(
        "pay-bill", json={"account": "rent", "amount": 250, "phone": 254712345678}
    )
    body = answer.json()
    assert (answer.status_code, body["completed"], body["amount"]) == (200, True, 250)
    assert daraja.transaction(body["TransID"])["amount"] == 25000
    assert control.post("pay-bill", json={"account": "rent", "amount": "12.50"}).status_code == 400
    assert control.post("pay-bill", json={"amount": 10}).status_code == 400


def test_reset_forgets_everything(control, caller, daraja):
    caller.post(B2C, caller.b2c())
    control.post("reset")
    assert (daraja.b2c_count(), daraja.tokens(), daraja.registration()) == (0, [], None)
    assert control.get("requests").json()["requests"] == []


def test_the_wsgi_app_answers_as_the_transport(sandbox, settings):
    over_wsgi = Caller(httpx.WSGITransport(app=sandbox), settings)
    answer = over_wsgi.post(STK, over_wsgi.stk(Amount="12.5"))
    assert (answer.status_code, answer.json()["errorCode"]) == (400, "400.002.02")
    assert over_wsgi.post(STK, over_wsgi.stk()).json()["ResponseCode"] == "0"
    assert over_wsgi.http.get("/_sandbox/health").json()["status"] == "ok"
    assert over_wsgi.http.get("/elsewhere").status_code == 404


def test_state_survives_a_restart(tmp_path, settings):
    first = build(Config(db_path=tmp_path / "s.sqlite3"))
    caller = Caller(first, settings)
    token = caller.token()
    caller.post(B2C, caller.b2c())
    restarted = build(Config(db_path=tmp_path / "s.sqlite3"))
    again = Caller(restarted, settings)
    assert again.post(B2C, again.b2c(), token=token).json()["errorCode"] == "500.002.1001"
    assert restarted.daraja.b2c_result("PAYOUT_7KQ2M9XD") == first.daraja.b2c_result(
        "PAYOUT_7KQ2M9XD"
    )


def test_deliveries_left_waiting_go_out_after_a_restart(tmp_path, settings):
    class Never:
        def schedule(self, job):
            pass  # the process stops before it gets round to it

    stopped = build(Config(db_path=tmp_path / "s.sqlite3"), scheduler=Never())
    caller = Caller(stopped, settings)
    caller.post(B2C, caller.b2c())
    restarted = Sandbox(tmp_path / "s.sqlite3", [Daraja(stopped.daraja.account)])
    assert restarted.deliveries.resume() == 1
    (delivery,) = restarted.deliveries.recent()
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)  # tried (nobody there)


def test_the_server_delivers_after_a_delay_and_retries_unreachable_urls():
    scheduler = Background(delay=0.2, retries=2, backoff=0.05)
    tries: list[tuple[float, bool]] = []
    done = threading.Event()
    start = time.monotonic()

    def job(last: bool) -> bool:
        tries.append((time.monotonic() - start, last))
        if last:
            done.set()
        return True  # could not reach the URL

    scheduler.schedule(job)
    assert done.wait(5)
    assert [last for _, last in tries] == [False, False, True]
    assert tries[0][0] >= 0.2  # not in the request that caused it
    assert tries[0][1] is False
