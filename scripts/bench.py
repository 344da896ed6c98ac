"""Benchmarks, run by `make bench`. Scenario "stellar": escrow lifecycles (create, fund, assign,
release) through the Stellar contract service process over HTTP, then the same requests replayed
with their idempotency keys; prints per-request latency, writes per second and the service's peak
memory. Scenario "callbacks": N M-Pesa C2B confirmations (10% of them
duplicates) at concurrency C against the API served as in production: gunicorn, PostgreSQL when
DATABASE_URL points at one, outbound work queued to Redis when REDIS_URL is set (otherwise it
runs inside each request). A no-op endpoint served by the same processes in the same run is the
baseline. Prints throughput and p50/p99 latency for both."""

import argparse
import asyncio
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["callbacks", "ussd", "stellar"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    {"callbacks": callbacks, "ussd": ussd, "stellar": stellar}[args.scenario](args)


if __name__ == "__main__":
    main()
