"""The service as a child process, as `make stellar-service` starts it, on a free loopback port
with its state in a given directory: for end-to-end tests and `make bench`."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(
    var_dir: Path, api_key: str, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `python -m stellar_service` (the local backend unless `settings` say otherwise),
    wait until it answers, yield its URL and process, stop it."""
    port = free_port()
    env = {
        **os.environ,
        "STELLAR_BACKEND": "local",
        **(settings or {}),
        "STELLAR_PORT": str(port),
        "STELLAR_CONTRACT_API_KEY": api_key,
        "KAZI_VAR_DIR": str(var_dir),
        "STELLAR_SERVICE_DB": str(var_dir / "stellar-service.sqlite3"),
    }
    url = f"http://127.0.0.1:{port}"
    log_path = var_dir / "stellar-service.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "stellar_service"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stellar service did not start: {log_path.read_text()}")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
