"""Stand-ins for the outside systems Kazi Trust talks to (Safaricom's Daraja, IntaSend's send-money
API, the seed's Intersend), as strict as the real ones, at the real APIs' paths. They run as their
own small process (`python -m sandbox`, on SANDBOX_PORT, started by `make run`), and the app
reaches them through its real clients over HTTP: only the base URL differs from production. Tests
mount the same router in-process as an httpx transport. The embedded default also loads, by name,
the in-process ledger (sandbox/ledger.py: the Stellar contract service's own code with its local
backend) and the console SMS (sandbox/sms.py). The HTTP stand-ins import nothing of Django or of
the app; production settings never import this package (import-linter and a test check both)."""

from sandbox.config import Config
from sandbox.daraja import Daraja, DarajaFaults
from sandbox.deliver import Scheduler
from sandbox.intasend import Intasend, IntasendFaults
from sandbox.intersend import Intersend, IntersendFaults
from sandbox.router import Sandbox


def build(config: Config, scheduler: Scheduler | None = None) -> Sandbox:
    """The sandbox with every stand-in mounted, its state in `config.db_path`."""
    sandbox = Sandbox(config.db_path, scheduler=scheduler)
    sandbox.mount(
        Daraja(config.daraja, pin_seconds=config.callback_delay, as_production=config.as_production)
    )
    sandbox.mount(Intasend(config.intasend))
    sandbox.mount(Intersend(config.intersend))
    return sandbox


__all__ = [
    "Config",
    "Daraja",
    "DarajaFaults",
    "Intasend",
    "IntasendFaults",
    "Intersend",
    "IntersendFaults",
    "Sandbox",
    "build",
]
