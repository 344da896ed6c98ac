"""The `soroban` backend: each write is one signed `invoke_contract_function` transaction on the
escrow contract, sent through a Stellar RPC server.

Envelope-store rules (MONEY-SAFETY P2, P7), per idempotency key, in SQLite at `store_path`:
1. A new write is simulated and prepared first; a simulation that fails with `Error(Contract, #n)`
   raised by our contract (or a transfer refused by its token) is a definite no (`ContractError`)
   and nothing is stored or sent. Who raised it is read from the diagnostic events: the token
   numbers its errors its own way, so the number alone proves nothing.
2. The signed envelope and its hash are stored (state `pending`) BEFORE the first send.
3. A key with a stored envelope never gets a new transaction while that envelope could still land:
   its outcome is asked for (`getTransaction`) and, if the network has not seen it, exactly the
   stored envelope is sent again.
4. Only when the RPC reports the hash NOT_FOUND, its latest ledger closed after the envelope's
   upper time bound (it can never be applied any more) and its history still reaches back to
   when the envelope was built (else NOT_FOUND proves nothing: 503 until reconciled by hand),
   or the transaction FAILED without a contract error (applied as a failure: nothing changed,
   the sequence number was used), is the envelope abandoned (kept in `soroban_abandoned`) and a
   new one built under the same key.
5. SUCCESS stores the escrow as read right after confirmation, FAILED with a contract error stores
   the error: replays return them without touching the network.
6. Transactions go out from a pool of channel accounts (`channels.py`; without channels, from
   the operator alone), each sending one at a time: a channel takes new work only once its own
   stored envelopes are settled (after a restart too), and build, send and confirm hold its lock.
   One escrow's writes go one at a time, in order: a write waits for that escrow's earlier
   envelopes to be settled before its own is built. Locks are flocks beside the store, so
   several workers on one host are safe.
7. A fee account, when configured, pays every fee by a fee bump around the channel's signed
   transaction (channels need only their reserve); the stored envelope is the signed fee bump.
   A fee payer that cannot pay stops new sends (`FeeAccountEmpty`, 503) until it is topped up.
8. txBAD_SEQ is never guessed around: the channel's sequence number is read from the network, and
   only when its number was taken by another transaction is the envelope abandoned (rule 4).
An outcome still unknown at the confirmation deadline raises `Unavailable` (the service answers 503;
the caller retries the same key, which lands in rule 3)."""

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError
from stellar_sdk import (
    Account,
    Address,
    FeeBumpTransactionEnvelope,
    InvokeHostFunction,
    Keypair,
    MuxedAccount,
    SorobanServer,
    TransactionBuilder,
    TransactionEnvelope,
)
from stellar_sdk import scval as stellar_scval
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.auth import authorize_entry
from stellar_sdk.exceptions import AccountNotFoundException, BaseRequestError
from stellar_sdk.soroban_rpc import (
    GetTransactionResponse,
    GetTransactionStatus,
    SendTransactionResponse,
    SendTransactionStatus,
    SimulateTransactionResponse,
)

from kazi.sqlite_store import SqliteStore

from ..config import Config, ConfigError
from . import scval
from .base import (
    CONTRACT_ERRORS,
    ContractError,
    Escrow,
    IdempotencyConflict,
    Receipt,
    Unavailable,
)
from .channels import AccountState, ChannelPool, read_accounts, xlm

log = logging.getLogger(__name__)

SOURCE_ACCOUNT_CREDENTIALS = stellar_xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
# The Stellar Asset Contract's errors that refuse a transfer for good, by its own numbering
# (soroban-env-host, builtin_contracts/contract_error.rs); the service answers 409 for them.
TOKEN_ERRORS: dict[int, str] = {
    10: "token_insufficient_balance",  # BalanceError: the sender holds too little
    11: "token_not_authorized",  # BalanceDeauthorizedError: the issuer froze the trustline
    13: "token_no_trustline",  # TrustlineMissingError: e.g. a payee without a KES trustline
}
_ERROR_TOPIC = stellar_scval.to_symbol("error")


class FeeTooHigh(Unavailable):
    """The prepared transaction would cost more than STELLAR_MAX_FEE: nothing was sent."""


class FeeAccountEmpty(Unavailable):
    """The fee payer cannot pay the fee: nothing new is sent until it is topped up."""


@dataclass(frozen=True)
class _Stored:
    key: str
    function: str
    contract_id: str
    request: str
    tx_hash: str
    envelope: str
    max_time: int  # the envelope's upper time bound
    built_at: int  # the ledger's close time when it was built: it cannot land before
    state: str
    result: str | None

    @property
    def source(self) -> str:
        """The channel (source account) whose sequence number the envelope takes."""
        return MuxedAccount.from_xdr_object(self._inner().source_account).account_id

    @property
    def sequence(self) -> int:
        return self._inner().seq_num.sequence_number.int64

    def _inner(self) -> stellar_xdr.Transaction:
        envelope = stellar_xdr.TransactionEnvelope.from_xdr(self.envelope)
        if envelope.fee_bump:
            return envelope.fee_bump.tx.inner_tx.v1.tx
        return envelope.v1.tx


_SCHEMA = """
CREATE TABLE IF NOT EXISTS soroban_tx (
    key TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    contract_id TEXT NOT NULL,
    request TEXT NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE,
    envelope TEXT NOT NULL,
    max_time INTEGER NOT NULL,
    built_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'rejected', 'dead')),
    result TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS soroban_abandoned (
    tx_hash TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    envelope TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class EnvelopeStore:
    """Signed envelopes by idempotency key (SQLite, one short transaction per call)."""

    def __init__(self, path: str | Path) -> None:
        self._sqlite = SqliteStore(Path(path), _SCHEMA)
        self._db = self._sqlite.write

    def get(self, key: str) -> _Stored | None:
        with self._db() as db:
            row = db.execute(
                "SELECT key, function, contract_id, request, tx_hash, envelope, max_time, built_at,"
                " state, result FROM soroban_tx WHERE key = ?",
                (key,),
            ).fetchone()
        return _Stored(*row) if row else None

    def pending(self) -> list[_Stored]:
        with self._db() as db:
            rows = db.execute(
                "SELECT key, function, contract_id, request, tx_hash, envelope, max_time, built_at,"
                " state, result FROM soroban_tx WHERE state = 'pending' ORDER BY updated_at"
            ).fetchall()
        return [_Stored(*row) for row in rows]

    def put_pending(self, stored: _Stored, abandoned_reason: str | None) -> None:
        """Store a new envelope for the key; an earlier one (which can no longer land) is
        moved to soroban_abandoned in the same transaction."""
        with self._db() as db:
            old = db.execute(
                "SELECT tx_hash, envelope FROM soroban_tx WHERE key = ?", (stored.key,)
            ).fetchone()
            if old:
                db.execute(
                    "INSERT INTO soroban_abandoned VALUES (?, ?, ?, ?, ?)",
                    (old[0], stored.key, old[1], abandoned_reason or "replaced", time.time()),
                )
            db.execute(
                "INSERT OR REPLACE INTO soroban_tx"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?)",
                (
                    stored.key,
                    stored.function,
                    stored.contract_id,
                    stored.request,
                    stored.tx_hash,
                    stored.envelope,
                    stored.max_time,
                    stored.built_at,
                    time.time(),
                ),
            )

    def finish(self, key: str, state: str, result: str) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE soroban_tx SET state = ?, result = ?, updated_at = ? WHERE key = ?",
                (state, result, time.time(), key),
            )

    def abandoned(self) -> list[tuple[str, str, str]]:
        """(key, tx_hash, reason) of every envelope given up, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT key, tx_hash, reason FROM soroban_abandoned ORDER BY at")
            return [tuple(row) for row in rows]


class _Dead(Exception):
    """The stored envelope can never be applied: a new one may be built under its key."""


@contextmanager
def _rpc_call(what: str) -> Iterator[None]:
    """Transport and RPC-level failures are "outcome unknown, retry": never a definite no.
    The message names the call only (no URL: it may carry an API key)."""
    try:
        yield
    except (BaseRequestError, AccountNotFoundException, ValidationError, ValueError) as exc:
        # ValidationError, ValueError: an answer that is not JSON-RPC (a proxy's 503 page).
        raise Unavailable(f"Stellar RPC {what} failed: {type(exc).__name__}") from None


def _keypair(name: str, secret: str) -> Keypair:
    try:
        return Keypair.from_secret(secret)
    except Exception:  # the SDK's message could quote the seed
        raise ConfigError(f"{name} is not a valid secret seed") from None


class SorobanBackend:
    """The escrow contract through a Stellar RPC (`rpc` is a `SorobanServer`). Uses the config's
    contract_address, network_passphrase, operator_secret, arbiter_secret (signs resolve's
    authorisation when it is not the operator), channel_secrets, fee_account_secret, low_balance
    and max_fee."""

    def __init__(
        self,
        config: Config,
        rpc: SorobanServer | None = None,
        store_path: str | Path | None = None,
        *,
        base_fee: int = 100,  # stroops: the inclusion fee offered on top of the resource fee
        tx_timeout: int = 120,  # seconds an envelope stays valid (its upper time bound)
        confirm_timeout: float = 20.0,  # seconds to wait for a sent transaction before 503
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._contract = Address(config.contract_address).key
        self._operator = _keypair("STELLAR_OPERATOR_SECRET", config.operator_secret)
        self._arbiter = (
            _keypair("STELLAR_ARBITER_SECRET", config.arbiter_secret)
            if config.arbiter_secret
            else self._operator
        )
        channels = [
            _keypair("STELLAR_CHANNEL_SECRETS", secret) for secret in config.channel_secrets
        ]
        # Without a fee account the operator pays: by fee bump when channels are the sources,
        # directly (a plain transaction) when it is the source itself.
        self._fee_payer = (
            _keypair("STELLAR_FEE_ACCOUNT_SECRET", config.fee_account_secret)
            if config.fee_account_secret
            else self._operator
        )
        self.rpc = rpc or SorobanServer(config.rpc_url)
        # Beside the service's own database unless told otherwise.
        store_path = store_path or config.db_path.with_name(f"{config.db_path.stem}-tx.sqlite3")
        self.store = EnvelopeStore(store_path)
        self.pool = ChannelPool(channels or [self._operator], Path(f"{store_path}.locks"))
        self.base_fee = base_fee
        self.tx_timeout = tx_timeout
        self.confirm_timeout = confirm_timeout
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._signers = {key.public_key: key for key in (self._operator, self._arbiter)}
        self._low: set[str] = set()  # accounts whose low balance was logged (once until topped up)

    @property
    def operator(self) -> str:
        return self._operator.public_key

    @property
    def fee_payer(self) -> str:
        return self._fee_payer.public_key

    # --- the Backend protocol -------------------------------------------------------------------

    def create(self, *, key: str, contract_id: str, funder: str, amount: int) -> Receipt:
        return self._write(key, "create", contract_id, funder=funder, amount=amount)

    def fund(self, *, key: str, contract_id: str, amount: int) -> Receipt:
        return self._write(key, "fund", contract_id, amount=amount)

    def assign(self, *, key: str, contract_id: str, payee: str) -> Receipt:
        return self._write(key, "assign", contract_id, payee=payee)

    def release(self, *, key: str, contract_id: str) -> Receipt:
        return self._write(key, "release", contract_id)

    def refund(self, *, key: str, contract_id: str) -> Receipt:
        return self._write(key, "refund", contract_id)

    def dispute(self, *, key: str, contract_id: str) -> Receipt:
        return self._write(key, "dispute", contract_id)

    def resolve(self, *, key: str, contract_id: str, to_payee: int, to_funder: int) -> Receipt:
        return self._write(key, "resolve", contract_id, to_payee=to_payee, to_funder=to_funder)

    def get(self, contract_id: str) -> Escrow:
        # A read is a simulation only: never signed, never sent; the sequence number is unused.
        envelope = self._build(Account(self.operator, 0), "get", {"reference": contract_id}, 0)
        simulation = self._simulate(envelope)
        assert simulation.results
        return scval.decode_escrow(
            contract_id, stellar_xdr.SCVal.from_xdr(simulation.results[0].xdr)
        )

    def health(self) -> dict:
        """The RPC, and each channel's and the fee payer's balance, sequence number and stored
        transaction still in flight; `warnings` names every account low on lumens."""
        channels = [channel.public_key for channel in self.pool.channels]
        with _rpc_call("getHealth"):
            health = self.rpc.get_health()
            network = self.rpc.get_network()
            accounts = read_accounts(self.rpc, [*channels, self._fee_payer.public_key])
        in_flight = {stored.source: stored.tx_hash for stored in self.store.pending()}
        warnings = []

        def account(role: str, public_key: str) -> dict:
            state = accounts.get(public_key)
            warning = self._low_balance(role, public_key, state)
            if warning:
                warnings.append(warning)
            return {
                "account": public_key,
                "balance_xlm": xlm(state.balance) if state else None,
                "sequence": str(state.sequence) if state else None,
                "in_flight": in_flight.get(public_key),
            }

        return {
            "rpc": health.status,
            "latest_ledger": health.latest_ledger,
            "network_ok": network.passphrase == self.config.network_passphrase,
            "contract": self.config.contract_address,
            "operator": self.operator,
            "channels": [account("channel", public_key) for public_key in channels],
            "fee_account": account("fee account", self._fee_payer.public_key),
            "warnings": warnings,
        }

    def _low_balance(self, role: str, public_key: str, state: AccountState | None) -> str | None:
        """A warning (logged once until topped up) for an account missing or below the
        STELLAR_LOW_BALANCE_XLM threshold, before it runs dry and payments stop."""
        if state is not None and state.balance >= self.config.low_balance:
            self._low.discard(public_key)
            return None
        warning = (
            f"{role} {public_key} does not exist"
            if state is None
            else f"{role} {public_key} holds {xlm(state.balance)} XLM, below"
            f" STELLAR_LOW_BALANCE_XLM ({xlm(self.config.low_balance)}): top it up"
        )
        if public_key not in self._low:
            self._low.add(public_key)
            log.warning(warning)
        return warning

    # --- writes ---------------------------------------------------------------------------------

    def _write(self, key: str, function: str, contract_id: str, **args: str | int) -> Receipt:
        call = {"reference": contract_id, **args}
        scval.encode_args(function, call)  # bad input (e.g. not an address) fails before the lock
        request = json.dumps(call, sort_keys=True)
        with self.pool.escrow(contract_id):
            stored = self.store.get(key)
            reason = None
            if stored:
                if (stored.function, stored.request) != (function, request):
                    raise IdempotencyConflict(f"{key!r} was used for another {stored.function}")
                try:
                    with self.pool.hold(stored.source):
                        return self._settle(stored)
                except _Dead as dead:
                    reason = str(dead)
            # This escrow's earlier writes land (or die) first: a new one must not overtake them.
            self._settle_pending(lambda o: o.contract_id == contract_id and o.key != key)
            with self._channel() as channel:
                stored = self._sign_new(channel, key, function, contract_id, call, request)
                self.store.put_pending(stored, reason)
                try:
                    return self._send_and_confirm(stored)
                except _Dead as dead:
                    raise Unavailable(f"the transaction failed on chain ({dead}); retry") from None

    @contextmanager
    def _channel(self) -> Iterator[Keypair]:
        """A free channel whose own stored envelopes are settled: a new transaction would take
        the sequence number of one still in flight. A channel whose envelope's outcome is still
        unknown is passed over; when every channel is, the last reason is the answer."""
        stuck: list[str] = []
        while True:
            with self.pool.take(exclude=stuck) as channel:
                try:
                    # Its lock is ours already.
                    self._settle_pending(lambda o: o.source == channel.public_key, hold=False)
                except Unavailable as unknown:
                    stuck.append(channel.public_key)
                    if len(stuck) == len(self.pool.channels):
                        raise
                    log.warning("channel %s passed over: %s", channel.public_key, unknown)
                    continue
                yield channel
                return

    def _settle_pending(self, which: Callable[[_Stored], bool], *, hold: bool = True) -> None:
        """Carry the chosen pending envelopes to an outcome (or to death), each holding its
        channel unless told the caller does."""
        for other in self.store.pending():
            if not which(other):
                continue
            # Decided and recorded either way: it can no longer take a sequence number.
            with (
                self.pool.hold(other.source) if hold else nullcontext(),
                suppress(ContractError, _Dead),
            ):
                self._settle(other)

    def _settle(self, stored: _Stored) -> Receipt:
        """The outcome of a stored envelope, resending exactly it if the network has not seen it.
        Raises ContractError (decided no), Unavailable (unknown yet) or _Dead (may rebuild)."""
        if stored.state == "applied":
            return Receipt(stored.tx_hash, Escrow(**json.loads(str(stored.result))))
        if stored.state == "rejected":
            raise ContractError(str(stored.result))
        if stored.state == "dead":
            raise _Dead(stored.result)
        status = self._get_transaction(stored.tx_hash)
        if status.status != GetTransactionStatus.NOT_FOUND:
            return self._finish(stored, status)
        if status.latest_ledger_close_time > stored.max_time:
            if status.oldest_ledger_close_time > stored.built_at:
                # It may have landed in ledgers the RPC no longer keeps: NOT_FOUND proves nothing.
                log.error(
                    "transaction %s for key %s: outcome beyond the RPC's history; "
                    "reconcile it by hand",
                    stored.tx_hash,
                    stored.key,
                )
                raise Unavailable(f"transaction {stored.tx_hash} needs reconciling by hand")
            # Its time bounds have passed on the ledger itself and the RPC saw every ledger in
            # which it could have landed: it never was, and never can be, applied.
            self._bury(stored, "expired unseen")
        log.info("resending the stored transaction %s for key %s", stored.tx_hash, stored.key)
        return self._send_and_confirm(stored)

    def _sign_new(
        self, channel: Keypair, key: str, function: str, contract_id: str, call: dict, request: str
    ) -> _Stored:
        with _rpc_call("getLedgerEntries"):
            # Read afresh every time: a sequence number is never guessed.
            account = self.rpc.load_account(channel.public_key)
            # Time bounds by the ledger's clock, the one that decides, not this host's.
            built_at = self.rpc.get_latest_ledger().close_time
        envelope = self._build(account, function, call, built_at + self.tx_timeout)
        simulation = self._simulate(envelope)
        with _rpc_call("prepareTransaction"):
            prepared = self.rpc.prepare_transaction(envelope, simulation)
        if self._authorize(prepared, simulation.latest_ledger):
            # Checking a signed authorisation costs instructions a recording simulation cannot
            # see (the host verifies the signature): simulate the signed call, enforcing, and
            # take its resources, or the network refuses it for exceeding them.
            simulation = self._simulate(prepared)
            with _rpc_call("prepareTransaction"):
                prepared = self.rpc.prepare_transaction(prepared, simulation)
        prepared.sign(channel)
        time_bounds = prepared.transaction.preconditions.time_bounds
        envelope = self._pay_fee(prepared)
        fee = envelope.transaction.fee
        if fee > self.config.max_fee:
            raise FeeTooHigh(
                f"{function} would cost {fee} stroops, above STELLAR_MAX_FEE "
                f"({self.config.max_fee}); nothing was sent"
            )
        self._check_fee_payer(fee)
        return _Stored(
            key=key,
            function=function,
            contract_id=contract_id,
            request=request,
            tx_hash=envelope.hash_hex(),
            envelope=envelope.to_xdr(),
            max_time=time_bounds.max_time,
            built_at=built_at,
            state="pending",
            result=None,
        )

    def _pay_fee(
        self, signed: TransactionEnvelope
    ) -> TransactionEnvelope | FeeBumpTransactionEnvelope:
        """The envelope to send: the signed transaction itself when its source pays, else the
        fee payer's signed fee bump around it (offering the same inclusion fee)."""
        if self._fee_payer.public_key == signed.transaction.source.account_id:
            return signed
        bump = TransactionBuilder.build_fee_bump_transaction(
            self._fee_payer.public_key, self.base_fee, signed, self.config.network_passphrase
        )
        bump.sign(self._fee_payer)
        return bump

    def _check_fee_payer(self, fee: int) -> None:
        """Nothing new is sent while the fee payer cannot pay (its warning, logged when it ran
        low, came first); a top-up is all it takes to resume."""
        payer = self._fee_payer.public_key
        with _rpc_call("getLedgerEntries"):
            state = read_accounts(self.rpc, [payer]).get(payer)
        self._low_balance("fee account", payer, state)
        available = state.available if state else 0
        if available < fee:
            raise FeeAccountEmpty(
                f"the fee account {payer} cannot pay the fee ({xlm(available)} XLM available,"
                f" {xlm(fee)} needed): top it up; nothing was sent"
            )

    def _authorize(self, prepared: TransactionEnvelope, latest_ledger: int) -> bool:
        """Sign the authorisation entries that are not covered by the transaction's signature:
        the operator's when a channel is the source, the arbiter's for resolve when the arbiter
        is not the source. Whether any was."""
        operation = prepared.transaction.operations[0]
        assert isinstance(operation, InvokeHostFunction)
        # Valid a little beyond the envelope's own time bounds, and no longer: an authorisation
        # that outlived its envelope could be replayed in another transaction after we re-signed.
        ledgers = math.ceil(self.tx_timeout / self.config.ledger_seconds)
        valid_until = latest_ledger + ledgers + 10
        signed = False
        for index, entry in enumerate(operation.auth):
            credentials = entry.credentials
            if credentials.type == SOURCE_ACCOUNT_CREDENTIALS:
                continue
            address = Address.from_xdr_sc_address(
                (credentials.address or credentials.address_v2).address
            ).address
            signer = self._signers.get(address)
            if signer is None:
                raise Unavailable("the call needs an authorisation this service cannot sign")
            operation.auth[index] = authorize_entry(
                entry, signer, valid_until, self.config.network_passphrase
            )
            signed = True
        return signed

    def _build(
        self, account: Account, function: str, call: dict, max_time: int
    ) -> TransactionEnvelope:
        return (
            TransactionBuilder(account, self.config.network_passphrase, self.base_fee)
            .append_invoke_contract_function_op(
                self.config.contract_address, function, scval.encode_args(function, call)
            )
            .add_time_bounds(0, max_time)
            .build()
        )

    def _simulate(self, envelope: TransactionEnvelope) -> SimulateTransactionResponse:
        with _rpc_call("simulateTransaction"):
            simulation = self.rpc.simulate_transaction(envelope)
        if simulation.error:
            refusal = self._refusal(simulation.events)
            if refusal:
                raise refusal
            log.error("simulation failed: %s", simulation.error.splitlines()[0])
            raise Unavailable("the contract call could not be simulated")
        if simulation.restore_preamble:
            raise Unavailable("contract state is archived and must be restored first")
        if not simulation.results:
            raise Unavailable("the simulation returned no result")
        return simulation

    def _send_and_confirm(self, stored: _Stored) -> Receipt:
        with _rpc_call("sendTransaction"):
            sent = self.rpc.send_transaction(stored.envelope)
        refused = _refusal_code(sent) if sent.status == SendTransactionStatus.ERROR else None
        if refused == stellar_xdr.TransactionResultCode.txBAD_SEQ:
            self._check_sequence(stored)
        elif refused == stellar_xdr.TransactionResultCode.txINSUFFICIENT_BALANCE:
            # Kept and resent unchanged once the fee payer is topped up.
            raise FeeAccountEmpty(
                f"the fee account {self._fee_payer.public_key} cannot pay for transaction"
                f" {stored.tx_hash}: top it up, then retry"
            )
        elif sent.status in (SendTransactionStatus.TRY_AGAIN_LATER, SendTransactionStatus.ERROR):
            # Not accepted this time; the envelope stays stored and is resent on the next retry.
            log.warning("sendTransaction %s: %s", stored.tx_hash, sent.status.value)
            raise Unavailable(f"the network did not accept the transaction ({sent.status.value})")
        for poll in range(max(1, math.ceil(self.confirm_timeout / self.poll_interval))):
            if poll:
                self._sleep(self.poll_interval)
            status = self._get_transaction(stored.tx_hash)
            if status.status != GetTransactionStatus.NOT_FOUND:
                return self._finish(stored, status)
        raise Unavailable(f"transaction {stored.tx_hash} is still pending")

    def _check_sequence(self, stored: _Stored) -> None:
        """After txBAD_SEQ: the envelope may already be in a ledger the RPC has not shown yet,
        or its sequence number was taken by another transaction (then it can never land).
        Which one, the channel's sequence number on the network says, read before the outcome
        is asked for; a number not reached yet proves nothing (the poll goes on)."""
        with _rpc_call("getLedgerEntries"):
            sequence = self.rpc.load_account(stored.source).sequence
        if sequence < stored.sequence:
            return
        status = self._get_transaction(stored.tx_hash)
        if status.status == GetTransactionStatus.NOT_FOUND:
            self._bury(stored, f"its sequence number was used by another transaction ({sequence})")

    def _bury(self, stored: _Stored, reason: str) -> NoReturn:
        log.warning("transaction %s for key %s %s", stored.tx_hash, stored.key, reason)
        self.store.finish(stored.key, "dead", reason)
        raise _Dead(reason)

    def _get_transaction(self, tx_hash: str) -> GetTransactionResponse:
        with _rpc_call("getTransaction"):
            return self.rpc.get_transaction(tx_hash)

    def _finish(self, stored: _Stored, status: GetTransactionResponse) -> Receipt:
        if status.status == GetTransactionStatus.SUCCESS:
            escrow = self.get(stored.contract_id)
            self.store.finish(stored.key, "applied", json.dumps(escrow.as_dict()))
            return Receipt(stored.tx_hash, escrow)
        refusal = self._refusal(status.diagnostic_events_xdr)
        if refusal is None:
            self._bury(stored, "failed without a contract error")
        self.store.finish(stored.key, "rejected", refusal.code)
        raise refusal

    def _refusal(self, events_xdr: list[str] | None) -> ContractError | None:
        """The definite no a failed invocation's diagnostic events prove, if any: one of our
        contract's errors when our contract raised it, a token refusal when another contract did
        (ours calls none but its token). Anything else proves nothing."""
        raised = _raised_error(events_xdr or [])
        if raised is None:
            return None
        contract, number = raised
        if contract is None:  # raised by the host itself, not a contract
            return None
        code = (CONTRACT_ERRORS if contract == self._contract else TOKEN_ERRORS).get(number)
        return ContractError(code) if code else None


def _refusal_code(sent: SendTransactionResponse) -> stellar_xdr.TransactionResultCode | None:
    """Why sendTransaction refused an envelope; a fee bump's inner refusal counts as the
    transaction's own (txBAD_SEQ of the channel's transaction under the fee payer's bump)."""
    if not sent.error_result_xdr:
        return None
    result = stellar_xdr.TransactionResult.from_xdr(sent.error_result_xdr).result
    if result.code == stellar_xdr.TransactionResultCode.txFEE_BUMP_INNER_FAILED:
        return result.inner_result_pair.result.result.code
    return result.code


def _raised_error(events_xdr: list[str]) -> tuple[bytes | None, int] | None:
    """The `Error(Contract, #n)` a failed invocation ended with, and the id of the contract that
    raised it (None: no contract). The host logs a diagnostic event ("error", error) where an
    error is raised and again in each caller it passes up through, under that caller's id, oldest
    first: the last such event holds the final error, the first one carrying it its raiser."""
    errors: list[tuple[stellar_xdr.ContractID | None, stellar_xdr.SCVal]] = []
    for event_xdr in events_xdr:
        event = stellar_xdr.DiagnosticEvent.from_xdr(event_xdr).event
        topics = event.body.v0.topics
        if len(topics) == 2 and topics[0] == _ERROR_TOPIC:
            errors.append((event.contract_id, topics[1]))
    if not errors:
        return None
    final = errors[-1][1]
    number = scval.contract_error_number(final)
    if number is None:
        return None
    raiser = next(contract for contract, error in errors if error == final)
    return (raiser.contract_id.hash if raiser else None), number
