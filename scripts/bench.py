"""Benchmarks, run by `make bench`. Scenario "stellar": escrow lifecycles (create, fund, assign,
release) through the Stellar contract service process over HTTP, then the same requests replayed
with their idempotency keys; prints per-request latency, writes per second and the service's peak
memory. Scenario "callbacks": N M-Pesa C2B confirmations (10% of them
duplicates) at concurrency C against the API served as in production: gunicorn, PostgreSQL when
DATABASE_URL points at one, outbound work queued to Redis when REDIS_URL is set (otherwise it
runs inside each request). A no-op endpoint served by the same processes in the same run is the
baseline. Prints throughput and p50/p99 latency for both. Scenario "payouts": `make run` (the real
scripts/run.py, on a temporary KAZI_VAR_DIR and free ports, the embedded default) once per payout
provider (mpesa_b2c, intasend, intersend); N jobs funded by Pay Bill through the sandbox and
assigned, then completed one at a time and then all at once; prints how long the completion
request took and how long until the payout was `completed` (reached through the provider's own
news, posted by the sandbox). Scenario "pages": `make run` again; an employer with funded jobs
logs in through the login form, then each web page is fetched N times one after another (as one
person clicking, so the time is the server's, not a queue's); prints p50 and p95 per page.
Scenario "chain": the local Stellar network (contracts/localnet) with a ledger every
--ledger-close-ms, the contract and 16 channel accounts deployed as `make run-soroban` does, then
for each N of --channels the Stellar service (soroban backend, STELLAR_CHANNELS=N) takes
--lifecycles escrow lifecycles side by side; prints operations per ledger and lifecycles per
hour. Scenario "http": measured with a real load generator, wrk, against gunicorn on PostgreSQL
and Redis (DATABASE_URL, REDIS_URL): the no-op, the C2B confirmation (10% duplicate TransIDs over
500 escrows), the floor (scripts/bench_floor.py: the same writes as one SQL statement behind
Django's request cycle), the C2B validation and an employer's GET /api/jobs/, one after another;
then the same writes as one confirmation makes, given to PostgreSQL directly by pgbench in a
scratch schema; then beat's relay task, back to back, until the announcements are handled."""

import argparse
import asyncio
import contextlib
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx

logging.getLogger("httpx").setLevel(logging.WARNING)

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(jobs: int, budget: Decimal = Decimal("1000")) -> list[str]:
    """Migrate, then post `jobs` jobs of `budget`; returns their escrow references."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kazi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User, UserType
    from escrow.workflows import job_create

    phone = f"+2547{random.randrange(10**8):08d}"  # noqa: S311 - test data
    employer = User.objects.create_user(
        phone,
        "bench-pass-phrase",
        user_type=UserType.EMPLOYER,
        first_name="Bench",
        last_name="Mark",
    )
    return [
        job_create(
            employer=employer, title="Bench", description="Bench", budget=budget
        ).escrow.contract_id
        for _ in range(jobs)
    ]


async def load(base: str, requests: list[tuple[str, dict | None]], concurrency: int) -> dict:
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            while queue:
                path, body = queue.pop()
                start = time.perf_counter()
                response = await (client.post(path, json=body) if body else client.get(path))
                latencies.append(time.perf_counter() - start)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "throughput": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def callbacks(args: argparse.Namespace) -> None:
    references = prepare(max(args.requests // 4, 1))
    server, base = start_server(args.workers)
    try:
        unique = [
            (
                "/api/callbacks/mpesa/deposit/",
                {
                    "TransactionType": "Pay Bill",
                    "TransID": f"BENCH{random.randrange(10**9):09d}{i}",  # noqa: S311
                    "TransTime": "20261123101500",
                    "TransAmount": "250.00",
                    "BusinessShortCode": "600000",
                    "BillRefNumber": references[i % len(references)],
                    "MSISDN": "2547 ***** 678",
                    "FirstName": "Bench",
                },
            )
            for i in range(args.requests - args.requests // 10)
        ]
        payloads = unique + random.sample(unique, args.requests // 10)  # 10% duplicates
        random.shuffle(payloads)
        asyncio.run(load(base, [("/api/ping/", None)] * 200, args.concurrency))  # warm up
        noop = asyncio.run(load(base, [("/api/ping/", None)] * args.requests, args.concurrency))
        deposits = asyncio.run(load(base, payloads, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)
    from django.db import connection

    outbound = "queued to Redis" if os.environ.get("REDIS_URL") else "run in-process"
    print(
        f"callbacks: {args.requests} C2B confirmations (10% duplicates), concurrency "
        f"{args.concurrency}, gunicorn {args.workers} workers, {connection.vendor}, "
        f"outbound work {outbound}"
    )
    for name, result in (("no-op", noop), ("C2B confirmation", deposits)):
        print(
            f"  {name:<17} {result['throughput']:8.1f} req/s  p50 {result['p50_ms']:6.1f} ms"
            f"  p99 {result['p99_ms']:6.1f} ms  failures {result['failures']}"
        )
    print(
        f"  throughput ratio (callbacks / no-op): {deposits['throughput'] / noop['throughput']:.2f}"
    )


def stellar(args: argparse.Namespace) -> None:
    import tempfile

    sys.path.insert(0, str(ROOT))
    from stellar_service.process import running_service

    payee = "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS"
    escrows = max(args.requests // 4, 1)
    steps = []
    for n in range(escrows):
        ref = f"ESCROW_B{n:07d}"
        steps += [
            ("create", {"contract_id": ref, "amount": 15_000_000_000}),
            ("fund", {"contract_id": ref, "amount": 15_000_000_000}),
            ("assign", {"contract_id": ref, "payee": payee}),
            ("release", {"contract_id": ref}),
        ]

    async def lifecycles(client: httpx.AsyncClient) -> tuple[list[float], float]:
        """Each escrow's steps in order; escrows side by side at the given concurrency."""
        latencies: list[float] = []
        semaphore = asyncio.Semaphore(args.concurrency)

        async def one(n: int) -> None:
            async with semaphore:
                for operation, body in steps[4 * n : 4 * n + 4]:
                    key = f"{body['contract_id']}:{operation}"
                    start = time.perf_counter()
                    response = await client.post(
                        f"/api/escrow/{operation}", json=body, headers={"Idempotency-Key": key}
                    )
                    latencies.append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(escrows)))
        return sorted(latencies), time.perf_counter() - started

    async def run(url: str) -> dict[str, tuple[list[float], float]]:
        headers = {"X-API-Key": "bench-key"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            return {"first time": await lifecycles(client), "replayed": await lifecycles(client)}

    with (
        tempfile.TemporaryDirectory() as var_dir,
        running_service(Path(var_dir), "bench-key") as (url, process),
    ):
        results = asyncio.run(run(url))
        peak_kib = next(
            int(line.split()[1])
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )
    print(
        f"stellar: {escrows} escrow lifecycles ({len(steps)} writes), concurrency "
        f"{args.concurrency}, local backend, one uvicorn process"
    )
    for name, (latencies, elapsed) in results.items():
        print(
            f"  {name:<10} {len(latencies) / elapsed:8.1f} writes/s  "
            f"p50 {statistics.median(latencies) * 1000:6.1f} ms  "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:6.1f} ms"
        )
    print(f"  service peak memory (VmHWM): {peak_kib / 1024:.1f} MiB")


def start_server(
    workers: int, threads: int = 1, app: str = "kazi.wsgi"
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            *("--pythonpath", str(ROOT / "scripts")),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/api/ping/").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, base


async def ussd_sessions(base: str, sessions: int, concurrency: int) -> list[float]:
    """Each session registers a new worker (7 hops), then dials again to browse work (3 hops)."""
    hops: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    run = random.randrange(10**6)  # noqa: S311 - test data

    async def session(client: httpx.AsyncClient, n: int) -> None:
        phone = f"+25479{(run * 1000 + n) % 10**7:07d}"
        journeys = [["1", "Otieno", "Odhiambo", "2", "1234", "1234"], ["1", "0"]]
        async with semaphore:
            for j, steps in enumerate(journeys):
                session_id = f"bench-{run}-{n}-{j}"
                for i in range(len(steps) + 1):
                    start = time.perf_counter()
                    response = await client.post(
                        "/api/ussd/",
                        data={
                            "sessionId": session_id,
                            "serviceCode": "*384*1234#",
                            "phoneNumber": phone,
                            "networkCode": "63902",
                            "text": "*".join(steps[:i]),
                        },
                    )
                    hops.append(time.perf_counter() - start)
                    assert response.text.startswith(("CON", "END")), response.text

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(session(client, n) for n in range(sessions)))
    return sorted(hops)


def ussd(args: argparse.Namespace) -> None:
    prepare(5)  # migrate, and a few open jobs to browse
    # Sessions live in the cache: several workers need Redis to share it.
    workers = args.workers if os.environ.get("REDIS_URL") else 1
    server, base = start_server(workers)
    try:
        hops = asyncio.run(ussd_sessions(base, args.requests // 10, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"ussd: {len(hops)} hops in {args.requests // 10} sessions, concurrency "
        f"{args.concurrency}, gunicorn {workers} worker(s)"
    )
    print(
        f"  per hop: p50 {statistics.median(hops) * 1000:6.1f} ms  "
        f"p99 {hops[int(len(hops) * 0.99) - 1] * 1000:6.1f} ms"
    )


@contextmanager
def make_run(var_dir: Path, provider: str) -> Iterator[tuple[str, str]]:
    """scripts/run.py as `make run` starts it, with PAYOUT_PROVIDER `provider`, on the embedded
    default (SQLite, no Redis) whatever this shell points at; yields (API, sandbox) URLs."""
    port, stellar_port, sandbox_port = free_port(), free_port(), free_port()
    outside = {"DATABASE_URL", "REDIS_URL", "KAZI_ENV", "MPESA_CALLBACK_BASE_URL", "SANDBOX_URL"}
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env |= {
        "KAZI_VAR_DIR": str(var_dir),
        "PORT": str(port),
        "STELLAR_PORT": str(stellar_port),
        "SANDBOX_PORT": str(sandbox_port),
        "PAYOUT_PROVIDER": provider,
        "LOG_LEVEL": "WARNING",
    }
    log = var_dir / "run.log"
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "run.py")],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "Kazi Trust is up" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"scripts/run.py did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def funded_jobs(base: str, sandbox: str, jobs: int) -> tuple[httpx.Client, list[int]]:
    """An employer with `jobs` jobs paid by Pay Bill and assigned to a worker: work in progress.
    Answers the employer's client and the jobs' ids."""
    run = random.randrange(10**6)  # noqa: S311 - test data

    def user(phone: str, role: str) -> httpx.Client:
        client = httpx.Client(base_url=base, timeout=60)
        answer = client.post(
            "/api/auth/register/",
            json={
                "phone_number": phone,
                "password": "bench-pass-phrase",
                "first_name": "Bench",
                "last_name": "Mark",
                "user_type": role,
            },
        )
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access']}"
        client.user_id = answer.json()["user"]["id"]
        return client

    boss = user(f"+25472{run:07d}", "employer")
    worker = user(f"+25471{run:07d}", "employee")
    ids = []
    for n in range(jobs):
        job = boss.post(
            "/api/jobs/", json={"title": f"Bench {n}", "description": "Bench", "budget": "2500"}
        ).json()
        paid = httpx.post(
            f"{sandbox}/_sandbox/pay-bill",
            json={"account": job["escrow_contract_id"], "amount": 2500},
            timeout=60,
        ).json()
        assert paid["completed"], paid
        worker.post(f"/api/jobs/{job['id']}/apply/", json={}).raise_for_status()
        assigned = boss.patch(f"/api/jobs/{job['id']}/", json={"employee": worker.user_id})
        assert assigned.json()["status"] == "in_progress", assigned.text
        ids.append(job["id"])
    return boss, ids


def complete_and_wait(base: str, token: str, job_id: int) -> tuple[float, float]:
    """Complete a job; answers (seconds the completion took, seconds until its payout was
    completed)."""
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": token}) as client:
        started = time.perf_counter()
        answer = client.post(f"/api/jobs/{job_id}/complete/")
        answered = time.perf_counter() - started
        assert answer.status_code == 200, answer.text
        deadline = started + 120
        while time.perf_counter() < deadline:
            payout = client.get(f"/api/jobs/{job_id}/").json()["payout"] or {}
            if payout.get("status") in {"completed", "failed"}:
                assert payout["status"] == "completed", payout
                return answered, time.perf_counter() - started
            time.sleep(0.05)
    raise RuntimeError(f"job {job_id}: the payout did not complete in 120 s")


def payouts(args: argparse.Namespace) -> None:
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    providers = args.providers.split(",")
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for provider in providers:
        with tempfile.TemporaryDirectory() as var_dir, make_run(Path(var_dir), provider) as urls:
            base, sandbox = urls
            boss, ids = funded_jobs(base, sandbox, 2 * args.jobs)
            token = boss.headers["Authorization"]
            one = [complete_and_wait(base, token, job_id) for job_id in ids[: args.jobs]]
            with ThreadPoolExecutor(args.jobs) as pool:
                rest = ids[args.jobs :]
                together = list(
                    pool.map(complete_and_wait, [base] * len(rest), [token] * len(rest), rest)
                )
            results[provider] = {"one at a time": one, "all at once": together}
    delay = os.environ.get("SANDBOX_CALLBACK_DELAY_SECONDS") or "1"
    print(
        f"payouts: make run's embedded default (SQLite, gunicorn 1 worker x 16 threads, outbound "
        f"work in the request), sandbox step and callback delay {delay} s; {args.jobs} jobs one "
        f"at a time, then {args.jobs} at once, per provider"
    )
    for provider, runs in results.items():
        for name, timings in runs.items():
            answers = sorted(a for a, _ in timings)
            settled = sorted(c for _, c in timings)
            p50 = statistics.median(answers) * 1000
            print(
                f"  {provider:<10} {name:<13} completion p50 {p50:6.0f} ms max "
                f"{answers[-1] * 1000:6.0f} ms   payout completed p50 "
                f"{statistics.median(settled):5.2f} s max {settled[-1]:5.2f} s"
            )


def web_login(base: str, phone: str) -> httpx.Client:
    """A browser's session: the login form posted with its CSRF token."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = client.get("/login/").text
    token = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login/",
        data={
            "csrfmiddlewaretoken": token,
            "phone_number": phone,
            "password": "bench-pass-phrase",
        },
        headers={"Referer": f"{base}/login/"},
    )
    assert answer.status_code == 302, answer.text[:2000]
    return client


def pages(args: argparse.Namespace) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as var_dir, make_run(Path(var_dir), "mpesa_b2c") as urls:
        base, sandbox = urls
        boss, ids = funded_jobs(base, sandbox, 5)
        me = boss.get("/api/auth/me/").json()
        job = boss.get(f"/api/jobs/{ids[0]}/").json()
        posted = boss.post(  # open: its public part is for anyone
            "/api/jobs/", json={"title": "Bench open", "description": "Bench", "budget": "900"}
        ).json()
        browser = web_login(base, me["phone_number"])
        visitor = httpx.Client(base_url=base, timeout=60)
        targets = {
            "/": visitor,
            "/signup/": visitor,
            "/login/": visitor,
            "/jobs/": visitor,
            "/jobs/new/": browser,
            "/jobs/<id>/ (its employer)": browser,
            "/jobs/<id>/ (a visitor)": visitor,
            "/me/": browser,
            "/u/<id>/": visitor,
            "/e/<ref>/": visitor,
        }
        paths = {
            "/jobs/<id>/ (its employer)": f"/jobs/{ids[0]}/",
            "/jobs/<id>/ (a visitor)": f"/jobs/{posted['id']}/",
            "/u/<id>/": f"/u/{me['id']}/",
            "/e/<ref>/": f"/e/{job['escrow_contract_id']}/",
        }
        print(
            f"pages: make run's embedded default (SQLite, gunicorn 1 worker x 16 threads), "
            f"{args.requests} sequential GETs per page after 5 warm-up ones"
        )
        for name, client in targets.items():
            path = paths.get(name, name)
            for _ in range(5):
                client.get(path)
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - start)
                assert answer.status_code == 200, (path, answer.status_code)
            times.sort()
            print(
                f"  {name:<28} p50 {statistics.median(times) * 1000:5.1f} ms  "
                f"p95 {times[int(len(times) * 0.95) - 1] * 1000:5.1f} ms  "
                f"{len(answer.content) / 1024:5.1f} KB uncompressed"
            )


def chain(args: argparse.Namespace) -> None:
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(ROOT))
    from stellar_service.process import free_port, running_service

    counts = [int(n) for n in args.channels.split(",")]
    binary = ROOT / "contracts/target/debug/kazi-localnet"
    if not binary.is_file():
        sys.exit(f"chain: no local network at {binary}: make localnet-build (needs Rust)")
    with tempfile.TemporaryDirectory() as tmp:
        var_dir, port = Path(tmp), free_port()
        rpc = f"http://127.0.0.1:{port}"
        network = subprocess.Popen(  # noqa: S603 - our own binary
            [
                *(str(binary), "--port", str(port), "--state-dir", str(var_dir / "localnet")),
                *("--ledger-close-ms", str(args.ledger_close_ms)),
            ],
            stdout=subprocess.DEVNULL,
        )

        def ledger() -> int:
            body = {"jsonrpc": "2.0", "id": 1, "method": "getLatestLedger"}
            return httpx.post(rpc, json=body, timeout=10).json()["result"]["sequence"]

        try:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    ledger()
                    break
                time.sleep(0.1)
            env = {
                **os.environ,
                "KAZI_VAR_DIR": tmp,
                "LOCALNET_CHANNELS": str(max(counts)),
                "LEDGER_CLOSE_MS": str(args.ledger_close_ms),
            }
            subprocess.run(  # noqa: S603 - our own script, as make run-soroban deploys
                [sys.executable, str(ROOT / "scripts/run.py"), "--deploy-localnet", rpc],
                env=env,
                check=True,
                capture_output=True,
            )
            settings = dict(
                line.split("=", 1)
                for line in (var_dir / "localnet/stellar.env").read_text().splitlines()
            )
            payee = settings["STELLAR_FUNDER_ACCOUNT"]  # holds a KES trustline
            print(
                f"chain: {args.lifecycles} escrow lifecycles (create, fund, assign, release) per "
                f"run, a ledger every {args.ledger_close_ms} ms, the soroban backend"
            )
            for n in counts:
                service_dir = var_dir / f"service-{n}"
                service_dir.mkdir()
                key = settings["STELLAR_CONTRACT_API_KEY"]
                with running_service(
                    service_dir, key, {**settings, "STELLAR_CHANNELS": str(n)}
                ) as (url, _):
                    client = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300)

                    def lifecycle(i: int, n: int = n, client: httpx.Client = client) -> None:
                        ref = f"ESCROW_{n:02d}{i:06d}"
                        for operation, body in (
                            ("create", {"amount": 15_000_000_000}),
                            ("fund", {"amount": 15_000_000_000}),
                            ("assign", {"payee": payee}),
                            ("release", {}),
                        ):
                            answer = client.post(
                                f"/api/escrow/{operation}",
                                json={"contract_id": ref, **body},
                                headers={"Idempotency-Key": f"{ref}:{operation}"},
                            )
                            assert answer.status_code == 200, answer.text

                    first, started = ledger(), time.perf_counter()
                    with ThreadPoolExecutor(max(2 * n, 4)) as pool:
                        list(pool.map(lifecycle, range(args.lifecycles)))
                    ledgers = max(ledger() - first, 1)
                    elapsed = time.perf_counter() - started
                per_ledger = 4 * args.lifecycles / ledgers
                per_hour = 3600 / (ledgers * 5) * args.lifecycles  # at pubnet's 5 s ledgers
                print(
                    f"  N={n:<3} {ledgers:5d} ledgers, {per_ledger:5.2f} operations per ledger "
                    f"({per_ledger / n:4.2f} N), {per_hour:7.0f} lifecycles per hour at 5 s "
                    f"ledgers ({elapsed:.0f} s here)"
                )
        finally:
            network.terminate()
            network.wait(timeout=30)


WRK_LUA = """
local refs = {%(refs)s}
local threads = 0
local counter, uniques = 0, 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() * 100 + tid)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local k
  if counter %% 10 == 0 and uniques > 0 then
    k = math.random(uniques)  -- every tenth request repeats one this thread sent
  else
    uniques = uniques + 1
    k = uniques
  end
  local body = string.format(
    '{"TransactionType": "Pay Bill", "TransID": "%(prefix)s%%02d%%09d", '
    .. '"TransTime": "20261123101500", "TransAmount": "10.00", "BusinessShortCode": "600000", '
    .. '"BillRefNumber": "%%s", "InvoiceNumber": "", "OrgAccountBalance": "", '
    .. '"ThirdPartyTransID": "", "MSISDN": "2547 ***** 678", "FirstName": "Bench"}',
    tid, k, refs[(tid * 7919 + k) %% #refs + 1])
  return wrk.format("POST", "%(path)s", nil, body)
end
"""

PGBENCH_SETUP = """
DROP SCHEMA IF EXISTS bench_pgbench CASCADE;
CREATE SCHEMA bench_pgbench;
CREATE TABLE bench_pgbench.callback (
    id bigserial PRIMARY KEY, kind varchar(32) NOT NULL, remote_addr inet, body text NOT NULL,
    outcome varchar(200) NOT NULL DEFAULT '', received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_pgbench.escrow (
    id integer PRIMARY KEY, amount numeric(12, 2) NOT NULL, funded numeric(12, 2) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_pgbench.deposit (
    id bigserial PRIMARY KEY, transaction_reference varchar(40) NOT NULL UNIQUE,
    escrow_id integer NOT NULL REFERENCES bench_pgbench.escrow,
    callback_id bigint NOT NULL REFERENCES bench_pgbench.callback,
    amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_pgbench.ledger_operation (
    id bigserial PRIMARY KEY, escrow_id integer NOT NULL REFERENCES bench_pgbench.escrow,
    kind varchar(16) NOT NULL, amount numeric(12, 2) NOT NULL,
    source_key varchar(64) NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_pgbench.announcement (
    id bigserial PRIMARY KEY, topic varchar(64) NOT NULL, payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_pgbench.escrow (id, amount, funded)
    SELECT n, 1000000, 0 FROM generate_series(1, %(escrows)d) AS n;
"""

# The escrow is locked before the deposit row is written, as mpesa/deposits.py does: the
# deposit's foreign key share-locks the escrow, and two clients upgrading that share lock to
# FOR UPDATE would deadlock each other.
PGBENCH_SCRIPT = """\\set escrow random(1, %(escrows)d)
\\set n random(1, 999999999999)
BEGIN;
SELECT funded FROM bench_pgbench.escrow WHERE id = :escrow FOR UPDATE;
INSERT INTO bench_pgbench.callback (kind, remote_addr, body, outcome)
    VALUES ('mpesa_c2b_confirmation', '127.0.0.1',
            '{"TransID": "PG' || :client_id || 'X' || :n || '", "TransAmount": "10.00"}',
            'credited');
INSERT INTO bench_pgbench.deposit (transaction_reference, escrow_id, callback_id, amount)
    VALUES ('PG' || :client_id || 'X' || :n, :escrow,
            currval('bench_pgbench.callback_id_seq'), 10);
INSERT INTO bench_pgbench.ledger_operation (escrow_id, kind, amount, source_key)
    VALUES (:escrow, 'fund', 10, 'PG' || :client_id || 'X' || :n);
UPDATE bench_pgbench.escrow SET funded = funded + 10, updated_at = now() WHERE id = :escrow;
INSERT INTO bench_pgbench.announcement (topic, payload)
    VALUES ('escrow.credited', ('{"escrow_id": ' || :escrow || '}')::jsonb);
END;
"""


def wrk_ms(text: str) -> float:
    """A wrk duration ("812.00us", "4.51ms", "1.02s", "1.50m") in milliseconds."""
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"wrk duration {text!r}")


def run_wrk(args: argparse.Namespace, url: str, extra: list[str]) -> dict:
    """wrk against `url`; its --latency report parsed."""
    command = [
        "/usr/bin/wrk",
        *("-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "--timeout", "10s"),
        *extra,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    result = {"non_2xx": 0, "socket_errors": "", "requests": 0, "output": done.stdout}
    for line in done.stdout.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["throughput"] = float(words[1])
        elif words[:1] == ["50%"]:
            result["p50_ms"] = wrk_ms(words[1])
        elif words[:1] == ["99%"]:
            result["p99_ms"] = wrk_ms(words[1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            result["non_2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            result["socket_errors"] = line.strip()
    if "throughput" not in result:
        sys.exit(f"http: could not read wrk's report:\n{done.stdout}\n{done.stderr}")
    return result


@contextmanager
def scratch_schema(escrows: int) -> Iterator[None]:
    """pgbench's tables (bench_pgbench), `escrows` escrows in them; dropped afterwards."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(PGBENCH_SETUP % {"escrows": escrows})
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA IF EXISTS bench_pgbench CASCADE")


def run_pgbench(args: argparse.Namespace, database_url: str, escrows: int) -> dict:
    """The writes of one C2B confirmation, straight to PostgreSQL: a raw callback, a deposit, the
    escrow locked and updated, a ledger operation, an announcement (in the scratch schema)."""
    import tempfile

    from django.db import connection

    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_SCRIPT % {"escrows": escrows})
        script.flush()
        done = subprocess.run(  # noqa: S603 - the distribution's pgbench
            [
                "/usr/bin/pgbench",
                *("-n", "-f", script.name, "-c", str(args.connections), "-j", "2"),
                *("-T", str(args.duration)),
                database_url,
            ],
            capture_output=True,
            text=True,
        )
    if done.returncode:
        sys.exit(f"http: pgbench failed:\n{done.stdout}\n{done.stderr}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM bench_pgbench.deposit WHERE transaction_reference LIKE 'PG%%'"
        )
        rows = cursor.fetchone()[0]
    result = {"rows": rows, "output": done.stdout}
    for line in done.stdout.splitlines():
        if line.startswith("tps =") and "without initial connection time" in line:
            result["throughput"] = float(line.split()[2])
        elif line.startswith("latency average ="):
            result["avg_ms"] = float(line.split()[3])
        elif line.startswith("number of failed transactions:"):
            result["failed"] = int(line.split()[4])
    if "throughput" not in result:
        sys.exit(f"http: could not read pgbench's report:\n{done.stdout}\n{done.stderr}")
    return result


def http(args: argparse.Namespace) -> None:
    import json

    if not Path("/usr/bin/wrk").is_file():
        sys.exit("http: no load generator at /usr/bin/wrk: apt-get install wrk")
    if not Path("/usr/bin/pgbench").is_file():
        sys.exit("http: no /usr/bin/pgbench: apt-get install postgresql-client")
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit(
            "http: needs PostgreSQL and Redis, as in production: set DATABASE_URL=postgres://... "
            "and REDIS_URL=redis://... (a database of its own: it migrates and adds data)"
        )
    escrows = 500
    references = prepare(escrows, budget=Decimal("1000000"))  # never paid in full by a run
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User, UserType
    from escrow.workflows import job_create

    run = f"{random.randrange(36**4):04X}"  # noqa: S311 - test data
    lister = User.objects.create_user(
        f"+2547{random.randrange(10**8):08d}",  # noqa: S311 - test data
        "bench-pass-phrase",
        user_type=UserType.EMPLOYER,
        first_name="Bench",
        last_name="Lister",
    )
    for n in range(100):  # an employer sees their own jobs: exactly these 100
        job_create(employer=lister, title=f"Bench {n}", description="Bench", budget=Decimal(900))
    bearer = f"Bearer {RefreshToken.for_user(lister).access_token}"

    token = os.environ.get("MPESA_CALLBACK_TOKEN")
    query = f"?token={token}" if token else ""
    confirmation = f"/api/callbacks/c2b/confirmation/{query}"
    validation = f"/api/callbacks/c2b/validation/{query}"
    refs = ", ".join(json.dumps(ref) for ref in references)
    results: dict[str, dict] = {}
    with scratch_schema(escrows):
        server, base = start_server(args.workers, args.threads, app="bench_floor:application")
        try:
            results = measure(args, base, run, references, refs, bearer, confirmation, validation)
        finally:
            server.terminate()
            server.wait(timeout=30)
        floor_rows = scratch_count(f"B{run}F")
        pg = run_pgbench(args, database_url, escrows)

    # A C2B benchmark with errors measures nothing: every unique TransID credited once.
    from mpesa.models import MpesaDeposit, ProviderCallback

    prefix = f"B{run}C"
    sent = ProviderCallback.objects.filter(
        kind=ProviderCallback.Kind.MPESA_C2B_CONFIRMATION, body__contains=prefix
    )
    unique = {json.loads(body)["TransID"] for body in sent.values_list("body", flat=True)}
    credited = MpesaDeposit.objects.filter(
        transaction_reference__startswith=prefix, credited_amount__gt=0
    ).count()
    failed = sent.filter(outcome__regex=r"^(error|rejected)").count()
    relayed, relay_seconds = relay_all()

    print(
        f"http: wrk -t2 -c{args.connections} -d{args.duration}s against gunicorn "
        f"{args.workers} workers x {args.threads} thread(s), PostgreSQL, Redis (announcements "
        f"left to beat's relay, not running); pgbench -c {args.connections} -j 2 "
        f"-T {args.duration}"
    )
    noop = results["no-op /api/ping/"]["throughput"]
    header = f"{'target':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"  {header} {'/ no-op':>8} {'/ pgbench':>9}")
    for name, result in results.items():
        print(
            f"  {name:<34} {result['throughput']:9.1f} {result['p50_ms']:8.2f} "
            f"{result['p99_ms']:8.2f} {result['throughput'] / noop:8.3f} "
            f"{result['throughput'] / pg['throughput']:9.3f}"
        )
    print(
        f"  {'pgbench (the same writes)':<34} {pg['throughput']:9.1f} "
        f"{'avg ' + format(pg['avg_ms'], '.2f'):>8} {'-':>8} {pg['throughput'] / noop:8.3f} "
        f"{1:9.3f}"
    )
    for name, result in results.items():
        if result["non_2xx"] or result["socket_errors"]:
            print(
                f"  WARNING {name}: {result['non_2xx']} non-2xx/3xx of {result['requests']} "
                f"{result['socket_errors']}"
            )
    print(
        f"  C2B confirmation: {sent.count()} callbacks stored, {len(unique)} unique TransIDs, "
        f"{credited} deposits credited, {failed} refused or failed; floor: {floor_rows} "
        f"deposits; pgbench: {pg['rows']} deposits, {pg.get('failed', 0)} failed transactions"
    )
    print(
        f"  relay (one process, after the run): {relayed} announcements handled in "
        f"{relay_seconds:.1f} s, {relayed / max(relay_seconds, 1e-9):.0f}/s"
    )
    if credited != len(unique) or failed:
        print("  WARNING: deposits credited != unique TransIDs, or callbacks refused or failed")


def measure(
    args: argparse.Namespace,
    base: str,
    run: str,
    references: list[str],
    refs: str,
    bearer: str,
    confirmation: str,
    validation: str,
) -> dict[str, dict]:
    """Each target's wrk report, after a warm-up that checks the answers."""
    import json
    import tempfile

    results: dict[str, dict] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        listed = client.get("/api/jobs/", headers={"Authorization": bearer})
        assert listed.status_code == 200, listed.text
        assert listed.json()["count"] == 100, listed.json()["count"]
        page = len(listed.json()["results"])
        sample = {
            "TransactionType": "Pay Bill",
            "TransTime": "20261123101500",
            "TransAmount": "10.00",
            "BusinessShortCode": "600000",
            "MSISDN": "2547 ***** 678",
            "FirstName": "Bench",
        }
        for path, reference in (
            (validation, references[0]),
            (confirmation, references[0]),
            ("/bench/floor/", "1"),
        ):
            trans_id = f"W{run}{random.randrange(10**9):09d}"  # noqa: S311 - test data
            answer = client.post(
                path, json={**sample, "TransID": trans_id, "BillRefNumber": reference}
            )
            if answer.status_code != 200 or answer.json().get("ResultCode") not in (0, "0"):
                sys.exit(f"http: {path} answered {answer.status_code} {answer.text}")
        for _ in range(100):
            client.get("/api/ping/")
    floor_refs = ", ".join(json.dumps(str(n)) for n in range(1, len(references) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for name, path, tag, targets in (
            ("C2B confirmation", confirmation, "C", refs),
            ("floor: the writes, one statement", "/bench/floor/", "F", floor_refs),
            ("C2B validation", validation, "V", refs),
        ):
            scripts[name] = Path(tmp) / f"{tag}.lua"
            scripts[name].write_text(
                WRK_LUA % {"refs": targets, "prefix": f"B{run}{tag}", "path": path}
            )
        results["no-op /api/ping/"] = run_wrk(args, f"{base}/api/ping/", [])
        for name, script in scripts.items():
            results[name] = run_wrk(args, base, ["-s", str(script)])
        results[f"GET /api/jobs/ ({page} of 100)"] = run_wrk(
            args, f"{base}/api/jobs/", ["-H", f"Authorization: {bearer}"]
        )
    return results


def scratch_count(prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM bench_pgbench.deposit WHERE transaction_reference LIKE %s",
            [f"{prefix}%"],
        )
        return cursor.fetchone()[0]


def relay_all() -> tuple[int, float]:
    """Beat's relay task run back to back in this process until nothing new is waiting: how fast
    one worker hands on what the confirmations announced (their follow-on tasks go to Redis)."""
    from kazi.tasks import announcement_relay

    handled, started = 0, time.perf_counter()
    while batch := announcement_relay():
        handled += batch
    return handled, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=[*SCENARIOS])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, help="gunicorn workers: 4, http 5")
    parser.add_argument("--threads", type=int, default=1, help="http: threads per gunicorn worker")
    parser.add_argument("--jobs", type=int, default=10, help="payouts: jobs per round")
    parser.add_argument(
        "--providers", default="mpesa_b2c,intasend,intersend", help="payouts: which providers"
    )
    parser.add_argument("--lifecycles", type=int, default=200, help="chain: per N")
    parser.add_argument("--channels", default="1,4,16", help="chain: the N to measure")
    parser.add_argument("--ledger-close-ms", type=int, default=5000, help="chain")
    parser.add_argument("--duration", type=int, default=10, help="http: seconds per target")
    parser.add_argument("--connections", type=int, default=50, help="http: wrk and pgbench")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 5 if args.scenario == "http" else 4
    SCENARIOS[args.scenario](args)


SCENARIOS = {
    "callbacks": callbacks,
    "ussd": ussd,
    "stellar": stellar,
    "payouts": payouts,
    "pages": pages,
    "chain": chain,
    "http": http,
}


if __name__ == "__main__":
    main()
