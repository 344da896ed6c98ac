"""The embedded default served as `make run` serves it (scripts/run.py: the sandbox, the Stellar
contract service, the API under gunicorn, the periodic runner), on its own SQLite files in a
temporary KAZI_VAR_DIR and on free ports. A job goes the whole way over real HTTP: paid through
the sandbox's Pay Bill, completed, paid out by B2C, the result called back by the sandbox.
Runserver dropped connections when 50 M-Pesa confirmations arrived at once; all 50 must now be
answered and credited."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.conftest import c2b_payload

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run.py"
CONCURRENT = 50
BUDGET = Decimal("1500")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # gone already
        return set()
    return {int(c) for c in children}.union(*(descendants(int(c)) for c in children))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    stellar: str
    sandbox: str
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def start(var_dir: Path, *args: str, **extra_env: str) -> Server:
    port, stellar_port, sandbox_port = free_port(), free_port(), free_port()
    # The embedded default: whatever the suite runs on, this server has SQLite and no Redis.
    outside = {"DATABASE_URL", "REDIS_URL", "KAZI_ENV", "MPESA_CALLBACK_BASE_URL", "SANDBOX_URL"}
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env |= {"KAZI_VAR_DIR": str(var_dir), "PORT": str(port), "STELLAR_PORT": str(stellar_port)}
    env |= {"SANDBOX_PORT": str(sandbox_port)}
    log = var_dir / "run.log"
    # As the Makefile's `run` target starts it: PORT=... python scripts/run.py
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(RUN), *args],
        cwd=ROOT,
        env=env | extra_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Server(
        process,
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{stellar_port}",
        f"http://127.0.0.1:{sandbox_port}",
        log,
    )
    deadline = time.monotonic() + 180
    while "Kazi Trust is up" not in server.output():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"scripts/run.py did not start:\n{server.output()}")
        time.sleep(0.2)
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start(tmp_path_factory.mktemp("embedded"), PERIODIC_TICK_SECONDS="1")
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=30)


def employer_client(
    base: str, phone: str = "+254722000111", role: str = "employer"
) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    registered = client.post(
        "/api/auth/register/",
        json={
            "phone_number": phone,
            "password": "kazi-e2e-pass-phrase",
            "first_name": "Amina",
            "last_name": "Otieno",
            "user_type": role,
        },
    )
    assert registered.status_code == 201, registered.text
    client.headers["Authorization"] = f"Bearer {registered.json()['access']}"
    client.user_id = registered.json()["user"]["id"]
    return client


def test_a_job_is_paid_in_and_out_through_the_sandbox_over_http(server):
    """Register, post a job, pay it by Pay Bill through the sandbox (which calls our registered
    URLs), assign, complete: the completion answers at once and the payout reaches `completed`
    through the sandbox's B2C result callback, over real HTTP."""
    boss = employer_client(server.base, "+254722000211")
    worker = employer_client(server.base, "+254712000311", role="employee")
    job = boss.post(
        "/api/jobs/", json={"title": "Fix the roof", "description": "Iron sheets", "budget": "2500"}
    ).json()
    paid = httpx.post(
        f"{server.sandbox}/_sandbox/pay-bill",
        json={"account": job["escrow_contract_id"], "amount": 2500, "phone": "254722000211"},
        timeout=30,
    ).json()
    assert paid["completed"] is True, paid
    assert paid["validation"]["answer_status"] == paid["confirmation"]["answer_status"] == 200
    assert worker.post(f"/api/jobs/{job['id']}/apply/", json={}).status_code == 201
    assigned = boss.patch(f"/api/jobs/{job['id']}/", json={"employee": worker.user_id})
    assert assigned.json()["status"] == "in_progress", assigned.text

    started = time.monotonic()
    completed = boss.post(f"/api/jobs/{job['id']}/complete/")
    answered = time.monotonic() - started
    assert completed.status_code == 200, completed.text
    deadline = started + 30
    while (payout := boss.get(f"/api/jobs/{job['id']}/").json()["payout"] or {}).get(
        "status"
    ) not in {"completed", "failed"} and time.monotonic() < deadline:
        time.sleep(0.1)
    paid_out = time.monotonic() - started
    print(f"\ncompletion answered in {answered:.3f} s; payout completed after {paid_out:.3f} s")
    assert payout["status"] == "completed", (payout, server.output()[-3000:])
    assert answered < 5  # promptly, whatever the provider: the B2C result comes later
    sent = httpx.get(f"{server.sandbox}/_sandbox/deliveries", params={"limit": 100}).json()
    results = [d for d in sent["deliveries"] if d["kind"] == "b2c-result"]
    assert [(d["status"], d["answer_status"]) for d in results] == [("delivered", 200)]
    assert payout["transaction_reference"] == results[0]["body"]["Result"]["TransactionID"]
    health = httpx.get(f"{server.base}/api/health/").json()
    assert health["status"] == "ok", health


def confirm_all_at_once(base: str, payloads: list[dict]) -> list[httpx.Response | Exception]:
    """Each confirmation on its own connection, all released at the same moment, as Safaricom's
    servers would send them."""
    answers: list[httpx.Response | Exception] = [None] * len(payloads)
    gate = threading.Barrier(len(payloads))

    def confirm(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            gate.wait()
            try:
                answers[i] = http.post("/api/callbacks/mpesa/deposit/", json=payloads[i])
            except httpx.HTTPError as exc:
                answers[i] = exc

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_50_concurrent_c2b_confirmations_are_all_answered_and_credited(server):
    api = employer_client(server.base)
    jobs = []
    for n in range(CONCURRENT):
        posted = api.post(
            "/api/jobs/", json={"title": f"Job {n}", "description": "Paint", "budget": str(BUDGET)}
        )
        assert posted.status_code == 201, posted.text
        jobs.append(posted.json())
    payloads = [
        c2b_payload(job["escrow_contract_id"], f"{BUDGET}.00", trans_id=f"RKT{n:07d}")
        for n, job in enumerate(jobs)
    ]
    assert len({p["TransID"] for p in payloads}) == CONCURRENT  # distinct M-Pesa payments

    answers = confirm_all_at_once(server.base, payloads)

    dropped = [a for a in answers if isinstance(a, Exception)]
    assert not dropped, f"{len(dropped)} got no answer: {dropped[:3]}"
    assert [(a.status_code, a.json()["ResultCode"]) for a in answers] == [(200, 0)] * CONCURRENT
    escrows = {}
    url = "/api/jobs/"
    while url:
        page = api.get(url).json()
        escrows |= {job["escrow_contract_id"]: job["escrow"] for job in page["results"]}
        url = page["next"]
    assert len(escrows) == CONCURRENT
    for reference, escrow in escrows.items():
        assert escrow["status"] == "funded", reference
        assert Decimal(escrow["funded_amount"]) == BUDGET, reference
    # And on the ledger, through the Stellar contract service process.
    on_chain = httpx.get(
        f"{server.stellar}/api/escrow/{jobs[-1]['escrow_contract_id']}",
        headers={"X-API-Key": settings.STELLAR_CONTRACT_API_KEY},
    ).json()
    assert on_chain["funded"] == 15_000_000_000


def test_the_admins_static_files_are_served(server):
    css = httpx.get(f"{server.base}/static/admin/css/base.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert httpx.get(f"{server.base}/admin/login/").status_code == 200


def test_the_periodic_runner_runs_the_beat_schedule(server):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = server.output()
        if all(f"{name} ({spec['task']}) -> " in log for name, spec in beat_schedule()):
            return
        time.sleep(0.2)
    pytest.fail(f"the periodic runner did not run the schedule:\n{server.output()}")


def beat_schedule() -> list[tuple[str, dict]]:
    """The embedded default's schedule: this process may have REDIS_URL (CI), which adds the
    announcement relay; the server is started without it, so announcements go after commit."""
    schedule = settings.CELERY_BEAT_SCHEDULE.items()
    return [(name, spec) for name, spec in schedule if name != "announcement-relay"]


def test_sigterm_stops_every_process(server):
    """Last in this module: it stops the shared server."""
    children = descendants(server.process.pid)
    assert len(children) >= 6  # sandbox and web (gunicorn's master and worker), stellar, periodic
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base}/api/ping/")
    log = server.output()
    assert "run_periodic: stopped" in log
    assert "Shutting down: Master" in log  # gunicorn's graceful stop


# --- the supervisor itself, on stand-in processes ------------------------------------------


def load_run_script():
    spec = importlib.util.spec_from_file_location("kazi_run_script", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_when_one_process_dies_the_supervisor_notices_and_stops_the_others(capsys):
    run = load_run_script()
    supervisor = run.Supervisor(dict(os.environ))
    sleep = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    # A child of its own that ignores nothing: stopped with its process group.
    nested = [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])", *sleep]
    supervisor.start(run.Process("sleeper", sleep))
    supervisor.start(run.Process("nested", nested))
    supervisor.start(run.Process("crasher", [sys.executable, "-c", "raise SystemExit(3)"]))
    deadline = time.monotonic() + 10
    out = ""
    while not ("sleeper  | up" in out and "nested   | up" in out) and time.monotonic() < deadline:
        supervisor.pump(0.1)  # their output, each line under its name
        out += capsys.readouterr().out
    while (gone := supervisor.exited()) is None and time.monotonic() < deadline:
        supervisor.pump(0.1)
    assert gone is not None
    assert (gone[0].name, gone[1]) == ("crasher", 3)
    pids = {child.pid for _, child in supervisor.running if child.poll() is None}
    pids |= {grandchild for pid in pids for grandchild in descendants(pid)}
    assert len(pids) == 3  # sleeper, nested and its child

    started = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - started < 5
    while [pid for pid in pids if alive(pid)] and time.monotonic() - started < 10:
        time.sleep(0.1)  # an orphaned grandchild takes its SIGTERM on its own time
    assert not [pid for pid in pids if alive(pid)]
    assert "sleeper  | up" in out
    assert "nested   | up" in out


def test_a_process_that_never_answers_stops_the_start(monkeypatch):
    run = load_run_script()
    monkeypatch.setattr(run, "START_TIMEOUT", 1.0)
    supervisor = run.Supervisor(dict(os.environ))
    never = run.Process(
        "never", [sys.executable, "-c", "import time; time.sleep(60)"], ready="http://127.0.0.1:9/"
    )
    with pytest.raises(RuntimeError, match="never did not answer"):
        supervisor.start(never)
    supervisor.stop()
    assert supervisor.running[0][1].returncode == -signal.SIGTERM
