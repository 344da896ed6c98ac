"""The sandbox as its own process (`python -m sandbox`, as `make run` starts it), for tests of
real processes talking over real HTTP."""

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
def running_sandbox(directory: Path, **env: str) -> Iterator[str]:
    """A sandbox server on a free port, its state and log in `directory`; yields its URL."""
    port = free_port()
    log = directory / "sandbox.log"
    environ = {
        **os.environ,
        "SANDBOX_PORT": str(port),
        "SANDBOX_DB_PATH": str(directory / "sandbox.sqlite3"),
        "SANDBOX_CALLBACK_DELAY_SECONDS": "0.2",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox"],
        cwd=ROOT,
        env=environ,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
