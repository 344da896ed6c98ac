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
hour."""

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


def prepare(jobs: int) -> list[str]:
    """Migrate, then post `jobs` jobs; returns their escrow references."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kazi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User, UserType
    from jobs.services import job_create

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
            employer=employer, title="Bench", description="Bench", budget=Decimal("1000")
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


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [
            sys.executable,
            "-m",
            "gunicorn",
            "kazi.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
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
            env = {**os.environ, "KAZI_VAR_DIR": tmp, "LOCALNET_CHANNELS": str(max(counts))}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=[*SCENARIOS])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=10, help="payouts: jobs per round")
    parser.add_argument(
        "--providers", default="mpesa_b2c,intasend,intersend", help="payouts: which providers"
    )
    parser.add_argument("--lifecycles", type=int, default=200, help="chain: per N")
    parser.add_argument("--channels", default="1,4,16", help="chain: the N to measure")
    parser.add_argument("--ledger-close-ms", type=int, default=5000, help="chain")
    args = parser.parse_args()
    SCENARIOS[args.scenario](args)


SCENARIOS = {
    "callbacks": callbacks,
    "ussd": ussd,
    "stellar": stellar,
    "payouts": payouts,
    "pages": pages,
    "chain": chain,
}


if __name__ == "__main__":
    main()
