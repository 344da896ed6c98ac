"""`make run` / `make dev`: the embedded default's processes side by side, each line of their
output prefixed with its name. Migrates, starts each process in order (waiting until it answers
before the next), prints where things are, and stops them all on Ctrl-C or SIGTERM, or when one of
them exits.

- sandbox:  the stand-ins for Daraja and the payout providers (`python -m sandbox`, SANDBOX_PORT),
            at the real APIs' paths; once it answers, our C2B URLs are registered with it
            (`manage.py mpesa_register_urls`, as with Safaricom). Only with MPESA_ENV=local.
- stellar:  the Stellar contract service, local backend (`python -m stellar_service`, STELLAR_PORT)
- web:      the API under gunicorn (threads; `--dev`: Django's auto-reloading runserver)
- periodic: CELERY_BEAT_SCHEDULE run in-process (`manage.py run_periodic`): no beat here

Adding a process is one line in `processes()`.

Settings (environment): PORT (8000), STELLAR_PORT (8001), SANDBOX_PORT (8002), WEB_WORKERS and
WEB_THREADS (gunicorn; see `web_command`), PERIODIC_TICK_SECONDS (10), KAZI_VAR_DIR (var/)."""

import argparse
import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds for a process to answer its readiness URL
STOP_GRACE = 15.0  # seconds between SIGTERM and SIGKILL


@dataclass
class Process:
    name: str
    command: list[str]
    ready: str | None = None  # a URL that answers 2xx once the process serves
    then: tuple[str, list[str]] | None = None  # (name, command) run once, when it is ready


def gunicorn_size() -> tuple[str, str]:
    """Worker processes and threads per worker. One process by default: without Redis the cache
    is each process's own memory, and USSD sessions, PIN reset codes and the Daraja OAuth token
    live there (two processes would each fetch a token, invalidating the other's). Its threads
    overlap what a request waits for (the SQLite write lock, fsync, the in-request calls to the
    Stellar service); the second core runs the Stellar service. With REDIS_URL the cache is
    shared: two processes, one a core."""
    workers = os.environ.get("WEB_WORKERS") or ("2" if os.environ.get("REDIS_URL") else "1")
    return workers, os.environ.get("WEB_THREADS") or "16"


def web_command(port: int, *, dev: bool) -> list[str]:
    if dev:
        return [PY, "manage.py", "runserver", f"{HOST}:{port}"]
    workers, threads = gunicorn_size()
    return [
        *(PY, "-m", "gunicorn", "kazi.wsgi:application", "--bind", f"{HOST}:{port}"),
        *("--workers", workers, "--threads", threads),
        # Connections waiting to be accepted (runserver's is 5, the kernel caps it at somaxconn).
        *("--backlog", "2048"),
        *("--graceful-timeout", "10", "--access-logfile", "-"),
        "--no-control-socket",  # gunicorn 27 would put one in ~/.gunicorn, shared by all runs
    ]


def with_sandbox() -> bool:
    """The sandbox stands in for Safaricom only when M-Pesa is local (the embedded default)."""
    return (os.environ.get("MPESA_ENV") or "local") == "local"


def processes(dev: bool, port: int, stellar_port: int, sandbox_port: int) -> list[Process]:
    web, stellar = f"http://{HOST}:{port}", f"http://{HOST}:{stellar_port}"
    sandbox = Process(
        "sandbox",
        [PY, "-m", "sandbox"],
        ready=f"http://{HOST}:{sandbox_port}/_sandbox/health",
        then=("register", [PY, "manage.py", "mpesa_register_urls"]),
    )
    return [
        *([sandbox] if with_sandbox() else []),
        Process("stellar", [PY, "-m", "stellar_service"], ready=f"{stellar}/api/health"),
        Process("web", web_command(port, dev=dev), ready=f"{web}/api/ping/"),
        Process("periodic", [PY, "manage.py", "run_periodic"]),
    ]


def environment(port: int, stellar_port: int, sandbox_port: int) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STELLAR_PORT": str(stellar_port)}
    # Django reaches the ledger through the service started here, not in-process.
    env["STELLAR_CONTRACT_SERVICE_URL"] = f"http://{HOST}:{stellar_port}"
    # The sandbox serves on SANDBOX_PORT; the app reaches it there, and it calls this server back,
    # on whatever port it has.
    env["SANDBOX_PORT"] = str(sandbox_port)
    env.setdefault("SANDBOX_URL", f"http://{HOST}:{sandbox_port}")
    env.setdefault("MPESA_CALLBACK_BASE_URL", f"http://{HOST}:{port}")
    return env


def _die_with_parent() -> None:
    """In the child: SIGTERM if the supervisor dies without stopping it (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Terminated(BaseException):
    """SIGTERM, handled like Ctrl-C."""


class Supervisor:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[tuple[Process, subprocess.Popen]] = []
        self.selector = selectors.DefaultSelector()
        self.partial: dict[int, bytes] = {}
        self.width = 8

    def say(self, text: str) -> None:
        print(f"{'run':<{self.width}} | {text}", flush=True)

    def start(self, process: Process) -> None:
        child = subprocess.Popen(  # noqa: S603 - our own commands
            process.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
            preexec_fn=_die_with_parent,  # safe: the supervisor has no threads
        )
        os.set_blocking(child.stdout.fileno(), False)
        self.selector.register(child.stdout, selectors.EVENT_READ, process.name)
        self.running.append((process, child))
        if process.ready:
            self.wait_ready(process, child)
        if process.then:
            self.run_once(*process.then)

    def run_once(self, name: str, command: list[str]) -> None:
        """A one-off step (its output under `name`); its failure stops the start."""
        done = subprocess.run(  # noqa: S603 - our own command
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in (done.stdout + done.stderr).splitlines():
            print(f"{name:<{self.width}} | {line}", flush=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command[1:])} failed (exit {done.returncode})")

    def wait_ready(self, process: Process, child: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with (
                contextlib.suppress(URLError, OSError),
                urlopen(process.ready, timeout=1) as answer,  # noqa: S310 - our own URL
            ):
                if answer.status < 300:
                    return
            if child.poll() is not None:
                raise RuntimeError(f"{process.name} exited with code {child.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} did not answer {process.ready} in time")
            self.pump(0.2)

    def pump(self, timeout: float) -> None:
        """Copies what the children wrote, line by line, each line prefixed with its name."""
        for key, _ in self.selector.select(timeout):
            fd = key.fileobj.fileno()
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:  # end of output: the child closed it or exited
                self.selector.unregister(key.fileobj)
                data = b"\n" if self.partial.get(fd) else b""
            *lines, self.partial[fd] = (self.partial.get(fd, b"") + data).split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip("\r")
                print(f"{key.data:<{self.width}} | {text}", flush=True)

    def exited(self) -> tuple[Process, int] | None:
        for process, child in self.running:
            if child.poll() is not None:
                return process, child.returncode
        return None

    def stop(self) -> None:
        """SIGTERM to every process group, last started first; SIGKILL to what is left after the
        grace period."""
        for _, child in reversed(self.running):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while any(child.poll() is None for _, child in self.running):
            if time.monotonic() > deadline:
                for process, child in self.running:
                    if child.poll() is None:
                        self.say(f"{process.name} did not stop in {STOP_GRACE:g}s: killed")
                for _, child in self.running:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.pid, signal.SIGKILL)
                break
            self.pump(0.1)
        for _, child in self.running:
            child.wait()
        self.pump(0)


def banner(dev: bool, port: int, stellar_port: int, sandbox_port: int) -> list[str]:
    base = f"http://{HOST}:{port}"
    workers, threads = gunicorn_size()
    server = (
        "runserver, reloading on changes"
        if dev
        else f"gunicorn, {workers} worker process(es) x {threads} threads"
    )
    var_dir = os.environ.get("KAZI_VAR_DIR") or ROOT / "var"
    tick = os.environ.get("PERIODIC_TICK_SECONDS") or "10"
    return [
        f"Kazi Trust is up ({server}). Ctrl-C stops everything.",
        f"  API       {base}/api/  (docs {base}/api/docs/, health {base}/api/health/)",
        f"  admin     {base}/admin/  (manage.py createsuperuser first)",
        f"  stellar   http://{HOST}:{stellar_port}  (local backend, docs at /docs)",
        *(
            [
                f"  sandbox   http://{HOST}:{sandbox_port}  (Daraja; pay an escrow by Pay Bill: "
                "make pay REF=ESCROW_... AMOUNT=..., control API under /_sandbox/)"
            ]
            if with_sandbox()
            else []
        ),
        f"  periodic  CELERY_BEAT_SCHEDULE in-process, looking every {tick}s",
        f"  data      {var_dir}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true", help="runserver, reloading on changes")
    args = parser.parse_args()
    port = int(os.environ.get("PORT") or 8000)
    stellar_port = int(os.environ.get("STELLAR_PORT") or 8001)
    sandbox_port = int(os.environ.get("SANDBOX_PORT") or 8002)
    env = environment(port, stellar_port, sandbox_port)

    def terminated(*_: object) -> None:
        raise Terminated

    # Ctrl-C too, explicitly: a shell starting us in the background has SIGINT ignored.
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)
    supervisor = Supervisor(env)
    code = 0
    try:
        subprocess.run(  # noqa: S603 - our own command
            [PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True
        )
        for process in processes(args.dev, port, stellar_port, sandbox_port):
            supervisor.start(process)
        for line in banner(args.dev, port, stellar_port, sandbox_port):
            supervisor.say(line)
        while (gone := supervisor.exited()) is None:
            supervisor.pump(0.5)
        supervisor.say(f"{gone[0].name} exited with code {gone[1]}: stopping the others")
        code = 1
    except Terminated:
        supervisor.say("stopping")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        supervisor.say(f"cannot start: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
