"""Channel accounts and the locks that keep writes apart, on one host.

A channel is only a transaction's source account and sequence number: the operator's authority
over the contract travels in its signed authorisation entry, so any channel can carry any
escrow's call. Each channel sends one transaction at a time (one sequence number in flight), and
one escrow's writes go one at a time (they must land in the order they were asked for); writes
for different escrows go out side by side on free channels.

Both locks are flocks on files of their own in a directory beside the envelope store: they hold
between the threads of one process (each takes its own open file description) and between
processes (several workers, the operator CLI) alike."""

import fcntl
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO

from stellar_sdk import Keypair, SorobanServer
from stellar_sdk import xdr as stellar_xdr

from .base import Unavailable

STROOPS_PER_XLM = 10**7
BASE_RESERVE = 5_000_000  # stroops per base reserve (0.5 XLM on every public network)
# Escrow references hash onto this many lock files: two escrows sharing one merely wait for each
# other, and the directory stays small however many escrows there are.
ESCROW_LOCK_STRIPES = 256


def xlm(stroops: int) -> str:
    return f"{Decimal(stroops) / STROOPS_PER_XLM:.7f}"  # exact, unlike a float


@dataclass(frozen=True)
class AccountState:
    account: str
    balance: int  # stroops
    sequence: int
    available: int  # stroops it can spend: above its reserve (sponsorships and offers aside)


def read_accounts(rpc: SorobanServer, accounts: Sequence[str]) -> dict[str, AccountState]:
    """The accounts as the ledger holds them, in one call; a missing account is left out."""
    keys = [
        stellar_xdr.LedgerKey(
            stellar_xdr.LedgerEntryType.ACCOUNT,
            account=stellar_xdr.LedgerKeyAccount(Keypair.from_public_key(a).xdr_account_id()),
        )
        for a in dict.fromkeys(accounts)
    ]
    found = {}
    for entry in rpc.get_ledger_entries(keys).entries or []:
        data = stellar_xdr.LedgerEntryData.from_xdr(entry.xdr).account
        public_key = Keypair.from_raw_ed25519_public_key(
            data.account_id.account_id.ed25519.uint256
        ).public_key
        balance = data.balance.int64
        reserve = (2 + data.num_sub_entries.uint32) * BASE_RESERVE
        found[public_key] = AccountState(
            public_key, balance, data.seq_num.sequence_number.int64, balance - reserve
        )
    return found


def _try_flock(path: Path, blocking: bool) -> IO[str] | None:
    lock_file = open(path, "a")  # noqa: SIM115 (closed by the caller, which holds the lock)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return None
    return lock_file


def escrow_lock_path(lock_dir: Path, reference: str) -> Path:
    stripe = int(hashlib.sha256(reference.encode()).hexdigest(), 16) % ESCROW_LOCK_STRIPES
    return lock_dir / f"escrow-{stripe:03d}.lock"


@contextmanager
def escrow_lock(lock_dir: Path, reference: str) -> Iterator[None]:
    """One write at a time for this escrow reference (waits for it)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock_file = _try_flock(escrow_lock_path(lock_dir, reference), blocking=True)
    assert lock_file is not None
    with lock_file:  # closing it releases the flock
        yield


class ChannelPool:
    """The channels (keypairs) and the locks on them and on escrows, under `lock_dir`."""

    def __init__(self, channels: Sequence[Keypair], lock_dir: Path, *, wait: float = 30.0) -> None:
        self.channels = tuple(channels)
        self.lock_dir = lock_dir
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self.wait = wait  # seconds to wait for a free channel before answering Unavailable
        self._freed = threading.Condition()
        self._turn = itertools.count()

    def escrow(self, reference: str) -> AbstractContextManager[None]:
        """One write at a time for this escrow (waits for it)."""
        return escrow_lock(self.lock_dir, reference)

    @contextmanager
    def hold(self, account: str) -> Iterator[None]:
        """This channel (any source account) to ourselves, waiting for it if it is busy."""
        lock_file = _try_flock(self._channel_lock(account), blocking=True)
        assert lock_file is not None
        try:
            yield
        finally:
            self._release(lock_file)

    @contextmanager
    def take(self, exclude: Sequence[str] = ()) -> Iterator[Keypair]:
        """A free channel (not in `exclude`), waiting up to `wait` seconds for one. Raises
        Unavailable when every channel is excluded or stays busy."""
        candidates = [c for c in self.channels if c.public_key not in exclude]
        if not candidates:
            raise Unavailable("no channel account can send now")
        deadline = time.monotonic() + self.wait
        while True:
            # Start at a different channel each time, so work spreads over all of them.
            start = next(self._turn) % len(candidates)
            for channel in candidates[start:] + candidates[:start]:
                lock_file = _try_flock(self._channel_lock(channel.public_key), blocking=False)
                if lock_file is None:
                    continue
                try:
                    yield channel
                finally:
                    self._release(lock_file)
                return
            if time.monotonic() > deadline:
                raise Unavailable(f"all {len(candidates)} channel accounts are busy")
            with self._freed:  # woken by this process's releases, polled for other processes'
                self._freed.wait(0.05)

    def _channel_lock(self, account: str) -> Path:
        return self.lock_dir / f"channel-{account}.lock"

    def _release(self, lock_file: IO[str]) -> None:
        lock_file.close()  # releases the flock
        with self._freed:
            self._freed.notify_all()
