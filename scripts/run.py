"""`make run` / `make dev`: the embedded default's processes side by side, each line of their
output prefixed with its name. Migrates, starts each process in order (waiting until it answers
before the next), prints where things are, and stops them all on Ctrl-C or SIGTERM, or when one of
them exits.

- sandbox:  the stand-ins for Daraja, IntaSend and Intersend (`python -m sandbox`, SANDBOX_PORT),
            at the real APIs' paths; once it answers, our C2B URLs are registered with its
            Daraja (`manage.py mpesa_register_urls`, as with Safaricom). Started when it stands
            in for something: MPESA_ENV=local, or PAYOUT_PROVIDER intasend or intersend with no
            INTASEND_API_URL / INTERSEND_API_URL of its own; it posts the payout providers' news
            to this server (MPESA_CALLBACK_BASE_URL).
- localnet: `--soroban` only: the local Stellar network (contracts/localnet, LOCALNET_PORT, a ledger
            every LEDGER_CLOSE_MS, its ledger in KAZI_VAR_DIR/localnet); once it answers, the
            contract is deployed on it (`python -m stellar_service.cli deploy`, once per ledger:
            the keys and the deployment are kept beside it)
- stellar:  the Stellar contract service (`python -m stellar_service`, STELLAR_PORT): the local
            backend, or with `--soroban` the soroban backend on the local network
- web:      the API under gunicorn (threads; `--dev`: Django's auto-reloading runserver)
- periodic: CELERY_BEAT_SCHEDULE run in-process (`manage.py run_periodic`): no beat here

Adding a process is one line in `processes()`.

Settings (environment): PORT (8000), STELLAR_PORT (8001), SANDBOX_PORT (8002), WEB_WORKERS and
WEB_THREADS (gunicorn; see `web_command`), PERIODIC_TICK_SECONDS (10), KAZI_VAR_DIR (var/)."""

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError
from urllib.request import urlopen

if TYPE_CHECKING:
    from stellar_sdk import Keypair

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
    env_file: Path | None = None  # KEY=VALUE lines added to its environment, read at its start


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


def local_mpesa() -> bool:
    """M-Pesa is the sandbox's Daraja (the embedded default)."""
    return (os.environ.get("MPESA_ENV") or "local") == "local"


def local_payouts() -> str:
    """The payout provider the sandbox plays, if any: the chosen one, when no API URL of its own
    is given (M-Pesa B2C goes wherever Daraja is)."""
    provider = os.environ.get("PAYOUT_PROVIDER") or "mpesa_b2c"
    if provider in {"intasend", "intersend"} and not os.environ.get(f"{provider.upper()}_API_URL"):
        return provider
    return ""


def with_sandbox() -> bool:
    """The sandbox runs when it stands in for something: Daraja, or the payout provider."""
    return local_mpesa() or bool(local_payouts())


# --- `--soroban`: the local Stellar network and the contract deployed on it ---------------------
LOCALNET_BIN = ROOT / "contracts/target/debug/kazi-localnet"
LOCALNET_PASSPHRASE = "Standalone Network ; February 2017"
# Stroops: the deployment's transactions (the wasm's upload pays 120 days of rent) and the
# service's (a create pays about 0.7 XLM of rent at pubnet's rates; STELLAR_MAX_FEE's default,
# 0.1 XLM, would refuse it).
LOCALNET_DEPLOY_MAX_FEE = "10000000000"
LOCALNET_SERVICE_MAX_FEE = "100000000"
LOCALNET_CHANNELS = int(os.environ.get("LOCALNET_CHANNELS") or 4)  # make bench: 16
LOCALNET_CHANNEL_STROOPS = 100_000_000  # 10 XLM: a channel's reserve and more; fees are bumped


def localnet_dir() -> Path:
    return Path(os.environ.get("KAZI_VAR_DIR") or ROOT / "var") / "localnet"


def localnet_processes(localnet_port: int) -> list[Process]:
    url = f"http://{HOST}:{localnet_port}"
    command = [
        *(str(LOCALNET_BIN), "--port", str(localnet_port), "--state-dir", str(localnet_dir())),
        *("--ledger-close-ms", os.environ.get("LEDGER_CLOSE_MS") or "5000"),
    ]
    deploy = ("deploy", [PY, str(Path(__file__).resolve()), "--deploy-localnet", url])
    return [Process("localnet", command, ready=f"{url}/health", then=deploy)]


def _rpc(url: str, method: str, **params: object) -> dict:
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    with urlopen(url, data=request.encode(), timeout=30) as answer:  # noqa: S310 - our own URL
        return json.loads(answer.read())["result"]


def deploy_localnet(url: str) -> int:
    """Keys (made once, kept in KAZI_VAR_DIR/localnet/keys.json), friendbot for them, the contract
    deployed by `python -m stellar_service.cli deploy` unless the ledger holds it already, the
    channel accounts and the fee account, and the settings of the service (stellar.env: its
    secrets) and of the web app (web.env)."""
    from stellar_sdk import Address, Keypair
    from stellar_sdk import xdr as stellar_xdr

    directory = localnet_dir()
    directory.mkdir(parents=True, exist_ok=True)
    keys_file, deployment_file = directory / "keys.json", directory / "deployment.json"
    channel_names = [f"channel-{n}" for n in range(1, LOCALNET_CHANNELS + 1)]
    saved = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    # Roles added since the keys were first made get theirs now.
    for name in ("admin", "operator", "issuer", "fee_account", *channel_names):
        saved.setdefault(name, Keypair.random().secret)
    # The service runs outside the embedded default here: it and the web app share a key of their
    # own, made once like the Stellar keys.
    api_key = saved.pop("api_key", None) or secrets.token_urlsafe(32)
    keys_file.write_text(json.dumps({**saved, "api_key": api_key}))
    keys_file.chmod(0o600)
    keys = {name: Keypair.from_secret(secret) for name, secret in saved.items()}
    contract = None
    if deployment_file.exists():
        contract = json.loads(deployment_file.read_text())["contract"]
        instance = stellar_xdr.LedgerKey(
            stellar_xdr.LedgerEntryType.CONTRACT_DATA,
            contract_data=stellar_xdr.LedgerKeyContractData(
                contract=Address(contract).to_xdr_sc_address(),
                key=stellar_xdr.SCVal(stellar_xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE),
                durability=stellar_xdr.ContractDataDurability.PERSISTENT,
            ),
        )
        if not _rpc(url, "getLedgerEntries", keys=[instance.to_xdr()])["entries"]:
            contract = None  # another ledger (its state was removed): deploy again
    if contract is None:
        for name in ("admin", "operator", "issuer"):
            with contextlib.suppress(URLError):  # 400: funded already
                urlopen(f"{url}/friendbot?addr={keys[name].public_key}", timeout=60).close()  # noqa: S310
        env = {
            **os.environ,
            "STELLAR_ADMIN_SECRET": keys["admin"].secret,
            "STELLAR_OPERATOR_SECRET": keys["operator"].secret,
            "STELLAR_ISSUER_SECRET": keys["issuer"].secret,
        }
        done = subprocess.run(  # noqa: S603 - our own CLI
            [
                *(PY, "-m", "stellar_service.cli", "deploy", "--rpc-url", url),
                *("--network-passphrase", LOCALNET_PASSPHRASE, "--mint", "1000000000"),
                *("--max-fee", LOCALNET_DEPLOY_MAX_FEE),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        print(done.stderr, end="")
        if done.returncode:
            return done.returncode
        contract = done.stdout.split("contract:")[1].split()[0]
        deployment_file.write_text(json.dumps({"contract": contract}))
        print(f"escrow contract {contract} deployed on the local network")
    else:
        print(f"escrow contract {contract} already on the local network")
    channels = [keys[name] for name in channel_names]
    fund_channels(url, keys["fee_account"], channels)
    operator = keys["operator"]
    service = {
        "STELLAR_BACKEND": "soroban",
        "STELLAR_RPC_URL": url,
        "STELLAR_NETWORK_PASSPHRASE": LOCALNET_PASSPHRASE,
        "STELLAR_CONTRACT_ADDRESS": contract,
        "STELLAR_FUNDER_ACCOUNT": operator.public_key,
        "STELLAR_OPERATOR_SECRET": operator.secret,
        "STELLAR_MAX_FEE": os.environ.get("STELLAR_MAX_FEE") or LOCALNET_SERVICE_MAX_FEE,
        "STELLAR_CONTRACT_API_KEY": api_key,
        "STELLAR_CHANNELS": str(len(channels)),
        "STELLAR_CHANNEL_SECRETS": ",".join(channel.secret for channel in channels),
        "STELLAR_FEE_ACCOUNT_SECRET": keys["fee_account"].secret,
        "STELLAR_LEDGER_SECONDS": str(int(os.environ.get("LEDGER_CLOSE_MS") or "5000") / 1000),
    }
    (directory / "stellar.env").write_text("".join(f"{k}={v}\n" for k, v in service.items()))
    (directory / "stellar.env").chmod(0o600)
    # Workers without an account of their own are paid to the operator's, muxed (its trustline).
    web = {"STELLAR_PAYOUT_ACCOUNT": operator.public_key, "STELLAR_CONTRACT_API_KEY": api_key}
    (directory / "web.env").write_text("".join(f"{k}={v}\n" for k, v in web.items()))
    (directory / "web.env").chmod(0o600)
    return 0


def fund_channels(url: str, fee_account: "Keypair", channels: list["Keypair"]) -> None:
    """The fee account from friendbot (10,000 XLM: it pays every fee by fee bump), then the
    channels it creates in one transaction, as `stellar_service.cli channels create` would;
    accounts the ledger holds already are left alone."""
    from stellar_sdk import SorobanServer

    sys.path.insert(0, str(ROOT))  # this script runs from scripts/: the service's package
    from stellar_service.backends.channels import read_accounts
    from stellar_service.cli import Deployer, pay_accounts

    with contextlib.suppress(URLError):  # 400: funded already
        urlopen(f"{url}/friendbot?addr={fee_account.public_key}", timeout=60).close()  # noqa: S310
    server = SorobanServer(url)
    existing = read_accounts(server, [channel.public_key for channel in channels])
    missing = {
        c.public_key: LOCALNET_CHANNEL_STROOPS for c in channels if c.public_key not in existing
    }
    if missing:
        network = Deployer(server, LOCALNET_PASSPHRASE, int(LOCALNET_SERVICE_MAX_FEE))
        pay_accounts(network, fee_account, missing, create=True)
        print(f"{len(missing)} channel accounts created on the local network")


def processes(
    dev: bool, port: int, stellar_port: int, sandbox_port: int, localnet_port: int | None = None
) -> list[Process]:
    web, stellar = f"http://{HOST}:{port}", f"http://{HOST}:{stellar_port}"
    register = ("register", [PY, "manage.py", "mpesa_register_urls"])
    sandbox = Process(
        "sandbox",
        [PY, "-m", "sandbox"],
        ready=f"http://{HOST}:{sandbox_port}/_sandbox/health",
        then=register if local_mpesa() else None,
    )
    soroban = localnet_port is not None
    env_file = (lambda name: localnet_dir() / name) if soroban else (lambda name: None)
    return [
        *([sandbox] if with_sandbox() else []),
        *(localnet_processes(localnet_port) if soroban else []),
        Process(
            "stellar",
            [PY, "-m", "stellar_service"],
            ready=f"{stellar}/api/health",
            env_file=env_file("stellar.env"),
        ),
        Process(
            "web",
            web_command(port, dev=dev),
            ready=f"{web}/api/ping/",
            env_file=env_file("web.env"),
        ),
        Process("periodic", [PY, "manage.py", "run_periodic"], env_file=env_file("web.env")),
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
        env = self.env
        if process.env_file:
            lines = process.env_file.read_text().splitlines()
            env = {**env, **dict(line.split("=", 1) for line in lines if "=" in line)}
        child = subprocess.Popen(  # noqa: S603 - our own commands
            process.command,
            cwd=ROOT,
            env=env,
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


def stand_ins() -> list[str]:
    """What the sandbox plays for this run."""
    played = ["Daraja"] if local_mpesa() else []
    return played + {"intasend": ["IntaSend"], "intersend": ["Intersend"]}.get(local_payouts(), [])


def banner(
    dev: bool, port: int, stellar_port: int, sandbox_port: int, localnet_port: int | None = None
) -> list[str]:
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
        f"  web app   {base}/",
        f"  API       {base}/api/  (docs {base}/api/docs/, health {base}/api/health/)",
        f"  admin     {base}/admin/  (manage.py createsuperuser first)",
        *(
            [
                f"  stellar   http://{HOST}:{stellar_port}  (soroban backend, docs at /docs)",
                f"  localnet  http://{HOST}:{localnet_port}  (Stellar RPC, a local network "
                f"running the contract; its ledger in {localnet_dir()})",
            ]
            if localnet_port is not None
            else [f"  stellar   http://{HOST}:{stellar_port}  (local backend, docs at /docs)"]
        ),
        *(
            [
                f"  sandbox   http://{HOST}:{sandbox_port}  ({', '.join(stand_ins())}; pay an "
                "escrow by Pay Bill: make pay REF=ESCROW_... AMOUNT=..., control API under "
                "/_sandbox/)"
            ]
            if with_sandbox()
            else []
        ),
        f"  payouts   {os.environ.get('PAYOUT_PROVIDER') or 'mpesa_b2c'}",
        f"  periodic  CELERY_BEAT_SCHEDULE in-process, looking every {tick}s",
        f"  data      {var_dir}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true", help="runserver, reloading on changes")
    parser.add_argument(
        "--soroban", action="store_true", help="the soroban backend on the local Stellar network"
    )
    parser.add_argument("--deploy-localnet", metavar="RPC_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.deploy_localnet:
        return deploy_localnet(args.deploy_localnet)
    port = int(os.environ.get("PORT") or 8000)
    stellar_port = int(os.environ.get("STELLAR_PORT") or 8001)
    sandbox_port = int(os.environ.get("SANDBOX_PORT") or 8002)
    localnet_port = int(os.environ.get("LOCALNET_PORT") or 8010) if args.soroban else None
    if args.soroban and not LOCALNET_BIN.is_file():
        print(f"run: no local network at {LOCALNET_BIN}: make localnet-build (needs Rust)")
        return 1
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
        for process in processes(args.dev, port, stellar_port, sandbox_port, localnet_port):
            supervisor.start(process)
        for line in banner(args.dev, port, stellar_port, sandbox_port, localnet_port):
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
