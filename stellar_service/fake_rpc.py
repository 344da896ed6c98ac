"""An in-process fake Stellar RPC for tests: no network, and strict about what it is sent.

It answers the JSON-RPC methods the soroban backend and the operator CLI use (getHealth,
getNetwork, getLatestLedger, getLedgerEntries for accounts, simulateTransaction, sendTransaction,
getTransaction). Every transaction is parsed with stellar-sdk's own XDR and checked: signed by its
source account for this network, the source's next sequence number, within its time bounds, a fee
of at least the inclusion and resource fees and at most `fee_cap`; an invocation must call the
deployed escrow contract with one of its functions and the contract's argument types, carrying the
authorisation the simulation asked for (an arbiter's signed, when the arbiter is not the source).
Anything else is rejected like stellar-core would (status ERROR) and recorded in `rejected`.

The escrow contract's behaviour is not re-implemented here: `contract_model` builds a `Backend`
(the `local` backend) whose semantics are the contract's, shared with the Rust tests through the
scenario files. Simulations run against a fresh model replaying every applied call, so they never
change state, exactly like a real simulation. A refusal is reported as the host does:
`Error(Contract, #n)` in the simulation's `error` text, plus ("error", Error(Contract, #n))
diagnostic events (a simulation's `events`, a failed transaction's `diagnosticEventsXdr`) under
the id of the contract that raised it, then of the escrow contract it passed up through. The
escrow's errors come from the escrow contract; the model's overdrawn transfer is the token's
`BalanceError`, raised by `token_address` (the model has no token of its own).

Plugging in: `SorobanServer(url, client=fake.client())` (in-process), or `with fake.serve() as url`
(a loopback HTTP server, for code that only takes a URL, such as the CLI).

Fault switches (each applies to the next matching calls):
- `fail_sends(n, mode)`: "transport" (no answer), "error" (status ERROR), "try_again_later", or
  "lost_reply" (the transaction is accepted and applied, then the answer is lost).
- `pending_polls = n`: a sent transaction stays pending (NOT_FOUND) for n getTransaction calls,
  then is applied.
- `hidden_polls = n`: a sent transaction is applied at once but getTransaction reports NOT_FOUND
  n times (a lagging RPC): a resend of the same envelope is harmless, a new one would be a second
  operation, which `envelopes` (every distinct envelope hash seen) would show.
- `fail_next_apply(number, by_token=False)`: the next invocation passes simulation but fails when
  applied with `Error(Contract, #number)` raised by the escrow contract (or by its token), as if
  the state changed in between; 0 fails it without a contract error (as running out of resources
  would).
- `fail_next_call(number, by_token=False)`: the next invocation, simulated or applied, fails so
  (`fail_next_call(TRUSTLINE_MISSING_ERROR, by_token=True)`: a payee without a KES trustline).
- `advance(seconds)`: moves the ledger's close time on (to expire time bounds).
- `forget_history()`: the RPC's retained history starts now (older transactions are NOT_FOUND).
- `down = True`: every request is lost until it is set back to False.
Records: `sent` (hash of every sendTransaction), `envelopes` (distinct hash -> envelope),
`applied` (every executed invocation), `rejected` (hash, reason), `methods` (every method called).
"""

import hashlib
import http.server
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import (
    Address,
    ChangeTrust,
    CreateAccount,
    InvokeHostFunction,
    Keypair,
    Network,
    Payment,
    SorobanDataBuilder,
    StrKey,
    TransactionEnvelope,
    scval,
)
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.auth import authorization_payload_hash, build_authorization_preimage
from stellar_sdk.client.base_sync_client import BaseSyncClient
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import BadSignatureError
from stellar_sdk.exceptions import ConnectionError as StellarConnectionError

from . import scval as escrow_scval
from .backends.base import ERROR_NUMBERS, Backend, ContractError, Escrow

PROTOCOL_VERSION = 23
MIN_RESOURCE_FEE = 50_000  # stroops the fake's simulation asks for every invocation
BASE_FEE = 100  # stroops per operation
SEND_FAULTS = ("transport", "error", "try_again_later", "lost_reply")
# Classic operations the deploy command sends; accepted after the envelope checks.
CLASSIC_OPERATIONS = (ChangeTrust, Payment, CreateAccount)
TxCode = stellar_xdr.TransactionResultCode
# The Stellar Asset Contract's own error numbers (soroban-env-host,
# builtin_contracts/contract_error.rs), for the token refusals the fake models.
BALANCE_ERROR = 10
TRUSTLINE_MISSING_ERROR = 13


class _Transport(Exception):
    """The request or its answer is lost on the wire."""


@dataclass
class ContractFailure(Exception):
    """An invocation failed with `Error(Contract, #number)` raised by `contract`; number None:
    failed without a contract error."""

    number: int | None
    contract: str | None = None


class _Rejected(Exception):
    def __init__(self, code: TxCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class Applied:
    tx_hash: str
    function: str
    args: dict[str, Any]
    error: ContractFailure | None = None  # why it failed, if it did


@dataclass
class _Tx:
    envelope: TransactionEnvelope
    pending_polls: int = 0
    hidden_polls: int = 0
    status: str = "PENDING"  # PENDING until applied, then SUCCESS or FAILED
    ledger: int = 0
    error: ContractFailure | None = None


@dataclass
class Deployment:
    """What the fake knows of a created contract: its wasm hash and constructor arguments."""

    wasm_hash: bytes
    constructor_args: list[stellar_xdr.SCVal] = field(default_factory=list)


class FakeStellarRpc:
    def __init__(
        self,
        *,
        network_passphrase: str = Network.TESTNET_NETWORK_PASSPHRASE,
        contract_model: Callable[[], Backend],
        contract_address: str | None = None,
        arbiter: str | None = None,
        accounts: tuple[str, ...] = (),
        fee_cap: int = 10_000_000,
    ) -> None:
        self.network_passphrase = network_passphrase
        self.contract_model = contract_model
        self.contract_address = contract_address  # set by a createContract otherwise
        # Who raises the token's refusals (a stand-in: the fake runs no asset contract).
        self.token_address = StrKey.encode_contract(hashlib.sha256(b"fake token").digest())
        self.arbiter = arbiter  # None: the transaction's source authorises resolve
        self.fee_cap = fee_cap
        self.accounts: dict[str, int] = {}
        for account in accounts:
            self.create_account(account)
        self.ledger = 1000
        self._clock_offset = 0
        self._history_starts = 0  # close time of the oldest ledger the RPC still answers for
        self.wasm: dict[bytes, bytes] = {}
        self.contracts: dict[str, Deployment] = {}
        self.trustlines: set[tuple[str, str]] = set()  # (account, asset code:issuer)
        self.payments: list[tuple[str, str, str, str]] = []  # (from, to, asset, amount)
        self._model = contract_model()
        self._lock = threading.RLock()
        self._send_faults: list[str] = []
        self._apply_faults: list[ContractFailure] = []
        self._call_faults: list[ContractFailure] = []
        self.pending_polls = 0
        self.hidden_polls = 0
        self.down = False
        self.transactions: dict[str, _Tx] = {}
        # Records for assertions.
        self.methods: list[str] = []
        self.sent: list[str] = []
        self.envelopes: dict[str, str] = {}
        self.applied: list[Applied] = []
        self.rejected: list[tuple[str, str]] = []
        self.simulated: list[str] = []

    # --- test controls ----------------------------------------------------------------------

    def create_account(self, account: str, sequence: int | None = None) -> None:
        # Like the network: a new account's sequence number is its ledger number << 32.
        self.accounts[account] = sequence if sequence is not None else 4096 << 32

    def fail_sends(self, count: int = 1, mode: str = "transport") -> None:
        assert mode in SEND_FAULTS, mode
        self._send_faults.extend([mode] * count)

    def fail_next_apply(self, number: int, *, by_token: bool = False) -> None:
        self._apply_faults.append(
            self._failure(number, by_token=by_token) if number else ContractFailure(None)
        )

    def fail_next_call(self, number: int, *, by_token: bool = False) -> None:
        self._call_faults.append(self._failure(number, by_token=by_token))

    def advance(self, seconds: int) -> None:
        self._clock_offset += seconds
        self.ledger += max(1, seconds // 5)

    def forget_history(self) -> None:
        self._history_starts = self.close_time
        self.transactions = {
            tx_hash: tx for tx_hash, tx in self.transactions.items() if tx.status == "PENDING"
        }

    @property
    def close_time(self) -> int:
        return int(time.time()) + self._clock_offset

    def escrow(self, reference: str) -> Escrow:
        """The contract's state, read directly (not through the RPC)."""
        return self._model.get(reference)

    def writes(self) -> list[Applied]:
        """Invocations applied successfully."""
        return [a for a in self.applied if a.error is None]

    # --- plugging in ------------------------------------------------------------------------

    def client(self) -> BaseSyncClient:
        return _FakeClient(self)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """A loopback HTTP JSON-RPC server for this fake; yields its URL."""
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    answer = json.dumps(fake.handle(json.loads(body))).encode()
                except _Transport:
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    # --- JSON-RPC -----------------------------------------------------------------------------

    def handle(self, request: dict) -> dict:
        method = request.get("method", "")
        params = request.get("params") or {}
        with self._lock:
            self.methods.append(method)
            if self.down:
                raise _Transport
            handler = getattr(self, f"_rpc_{method}", None)
            if handler is None:
                return _error(request, -32601, "method not found")
            try:
                result = handler(params)
            except (ValueError, KeyError) as exc:
                return _error(request, -32602, f"invalid params: {exc}")
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def _ledger_info(self) -> dict:
        return {"latestLedger": self.ledger, "latestLedgerCloseTime": str(self.close_time)}

    def _rpc_getHealth(self, params: dict) -> dict:
        return {
            "status": "healthy",
            "latestLedger": self.ledger,
            "oldestLedger": 1,
            "ledgerRetentionWindow": 17280,
        }

    def _rpc_getNetwork(self, params: dict) -> dict:
        return {"passphrase": self.network_passphrase, "protocolVersion": PROTOCOL_VERSION}

    def _rpc_getLatestLedger(self, params: dict) -> dict:
        return {
            "id": hashlib.sha256(str(self.ledger).encode()).hexdigest(),
            "protocolVersion": PROTOCOL_VERSION,
            "sequence": self.ledger,
            "closeTime": str(self.close_time),
            "headerXdr": "",
            "metadataXdr": "",
        }

    def _rpc_getLedgerEntries(self, params: dict) -> dict:
        entries = []
        for key_xdr in params["keys"]:
            key = stellar_xdr.LedgerKey.from_xdr(key_xdr)
            if key.type != stellar_xdr.LedgerEntryType.ACCOUNT:
                continue  # only accounts are modelled
            account = Keypair.from_raw_ed25519_public_key(
                key.account.account_id.account_id.ed25519.uint256
            ).public_key
            if account in self.accounts:
                entries.append(
                    {
                        "key": key_xdr,
                        "xdr": _account_entry(account, self.accounts[account]).to_xdr(),
                        "lastModifiedLedgerSeq": self.ledger,
                    }
                )
        return {"entries": entries, "latestLedger": self.ledger}

    def _rpc_simulateTransaction(self, params: dict) -> dict:
        envelope = TransactionEnvelope.from_xdr(params["transaction"], self.network_passphrase)
        operation = _single_invocation(envelope)
        source = envelope.transaction.source.account_id
        function = operation.host_function
        self.simulated.append(_describe(function))
        try:
            auth = self._required_auth(function, source)
            value = self._run(function, source, simulate=True)
        except ContractFailure as failure:
            event_log = "".join(
                f"\n   {index}: [Diagnostic Event] contract:{contract}, topics:[error, "
                f'Error(Contract, #{failure.number})], data:"{message}"'
                for index, (contract, message) in enumerate(reversed(self._error_trail(failure)))
            )
            return {
                "error": f"HostError: Error(Contract, #{failure.number})\n\n"
                f"Event log (newest first):{event_log}",
                "events": self._error_events(failure),
                "latestLedger": self.ledger,
            }
        except _Rejected as exc:
            return {"error": f"HostError: {exc}", "latestLedger": self.ledger}
        data = SorobanDataBuilder().set_resource_fee(MIN_RESOURCE_FEE).build()
        return {
            "transactionData": data.to_xdr(),
            "minResourceFee": str(MIN_RESOURCE_FEE),
            "results": [{"auth": [entry.to_xdr() for entry in auth], "xdr": value.to_xdr()}],
            "latestLedger": self.ledger,
        }

    def _rpc_sendTransaction(self, params: dict) -> dict:
        envelope = TransactionEnvelope.from_xdr(params["transaction"], self.network_passphrase)
        tx_hash = envelope.hash_hex()
        self.sent.append(tx_hash)
        self.envelopes.setdefault(tx_hash, params["transaction"])
        fault = self._send_faults.pop(0) if self._send_faults else None
        if fault == "transport":
            raise _Transport
        if fault in ("error", "try_again_later"):
            status = "ERROR" if fault == "error" else "TRY_AGAIN_LATER"
            return self._send_answer(tx_hash, status, TxCode.txINTERNAL_ERROR)
        known = self.transactions.get(tx_hash)
        if known is not None:
            # Still in the queue: core says DUPLICATE; already in a ledger: its sequence is used.
            if known.status == "PENDING":
                return self._send_answer(tx_hash, "DUPLICATE")
            return self._send_answer(tx_hash, "ERROR", TxCode.txBAD_SEQ)
        try:
            self._check_envelope(envelope)
        except _Rejected as exc:
            self.rejected.append((tx_hash, str(exc)))
            return self._send_answer(tx_hash, "ERROR", exc.code)
        tx = _Tx(envelope, pending_polls=self.pending_polls, hidden_polls=self.hidden_polls)
        self.transactions[tx_hash] = tx
        if tx.pending_polls == 0:
            self._apply(tx_hash, tx)
        if fault == "lost_reply":
            raise _Transport
        return self._send_answer(tx_hash, "PENDING")

    def _send_answer(self, tx_hash: str, status: str, code: TxCode | None = None) -> dict:
        answer = {"status": status, "hash": tx_hash, **self._ledger_info()}
        if code is not None:
            answer["errorResultXdr"] = _transaction_result(code)
        return answer

    def _rpc_getTransaction(self, params: dict) -> dict:
        tx_hash = params["hash"]
        tx = self.transactions.get(tx_hash)
        not_found = {
            "status": "NOT_FOUND",
            "txHash": tx_hash,
            **self._ledger_info(),
            "oldestLedger": 1,
            "oldestLedgerCloseTime": str(self._history_starts),
        }
        if tx is None:
            return not_found
        if tx.status == "PENDING":
            tx.pending_polls -= 1
            if tx.pending_polls > 0 or not self._apply(tx_hash, tx):
                return not_found
        if tx.hidden_polls > 0:
            tx.hidden_polls -= 1
            return not_found
        answer = {
            **not_found,
            "status": tx.status,
            "applicationOrder": 1,
            "feeBump": False,
            "envelopeXdr": tx.envelope.to_xdr(),
            "resultXdr": _transaction_result(
                TxCode.txSUCCESS if tx.status == "SUCCESS" else TxCode.txFAILED
            ),
            "ledger": tx.ledger,
            "createdAt": str(self.close_time),
        }
        if tx.error is not None:
            answer["diagnosticEventsXdr"] = self._error_events(tx.error)
        return answer

    # --- checks and execution -----------------------------------------------------------------

    def _next_sequence(self, source: str) -> int:
        """Like core's queue: an account may chain transactions behind its queued ones."""
        queued = sum(
            tx.status == "PENDING" and tx.envelope.transaction.source.account_id == source
            for tx in self.transactions.values()
        )
        return self.accounts[source] + 1 + queued

    def _check_envelope(self, envelope: TransactionEnvelope) -> None:
        tx = envelope.transaction
        source = tx.source.account_id
        if source not in self.accounts:
            raise _Rejected(TxCode.txNO_ACCOUNT, f"unknown source account {source}")
        if not _signed_by(envelope, source):
            raise _Rejected(TxCode.txBAD_AUTH, "not signed by the source account")
        if tx.sequence != self._next_sequence(source):
            raise _Rejected(TxCode.txBAD_SEQ, f"sequence {tx.sequence} is not the next")
        bounds = tx.preconditions.time_bounds if tx.preconditions else None
        if bounds is None or bounds.max_time == 0:
            raise _Rejected(TxCode.txTOO_LATE, "no upper time bound: it could land any time")
        if self.close_time > bounds.max_time:
            raise _Rejected(TxCode.txTOO_LATE, "time bounds have passed")
        resource_fee = tx.soroban_data.resource_fee.int64 if tx.soroban_data else 0
        if tx.fee < BASE_FEE * len(tx.operations) + resource_fee:
            raise _Rejected(TxCode.txINSUFFICIENT_FEE, "fee below inclusion plus resource fee")
        if tx.fee > self.fee_cap:
            raise _Rejected(TxCode.txINSUFFICIENT_BALANCE, f"fee {tx.fee} above the fake's cap")
        if all(isinstance(op, CLASSIC_OPERATIONS) for op in tx.operations):
            for op in tx.operations:
                op_source = op.source.account_id if op.source else source
                if op_source != source and not _signed_by(envelope, op_source):
                    raise _Rejected(TxCode.txBAD_AUTH, f"not signed by {op_source}")
            return
        operation = _single_invocation(envelope)
        if resource_fee < MIN_RESOURCE_FEE:
            raise _Rejected(TxCode.txINSUFFICIENT_FEE, "resource fee below the simulation's")
        self._check_auth(operation, self._required_auth(operation.host_function, source))

    def _check_auth(
        self, operation: InvokeHostFunction, needed: list[stellar_xdr.SorobanAuthorizationEntry]
    ) -> None:
        """Each authorisation the simulation asked for must be in the transaction, and signed
        when it is not the transaction's source account's."""
        given = {_root(entry): entry for entry in operation.auth}
        for entry in needed:
            signed = given.get(_root(entry))
            if signed is None or signed.credentials.type != entry.credentials.type:
                raise _Rejected(TxCode.txFAILED, "authorisation missing")
            if entry.credentials.type == _SOURCE:
                continue
            credentials = signed.credentials.address_v2 or signed.credentials.address
            signer = Address.from_xdr_sc_address(credentials.address).address
            preimage = build_authorization_preimage(
                signed,
                credentials.signature_expiration_ledger.uint32,
                self.network_passphrase,
            )
            if credentials.signature_expiration_ledger.uint32 < self.ledger or not _verify(
                signer, authorization_payload_hash(preimage), credentials.signature
            ):
                raise _Rejected(TxCode.txFAILED, f"authorisation of {signer} not signed")

    def _required_auth(
        self, function: stellar_xdr.HostFunction, source: str
    ) -> list[stellar_xdr.SorobanAuthorizationEntry]:
        """The authorisations a recording simulation reports: the operator (the source) for every
        escrow write, the arbiter for resolve, the deployer for a contract it creates."""
        kind = stellar_xdr.HostFunctionType
        if function.type == kind.HOST_FUNCTION_TYPE_INVOKE_CONTRACT:
            name = function.invoke_contract.function_name.sc_symbol.decode()
            if name not in escrow_scval.WRITES:
                return []
            signer = self.arbiter if name == "resolve" and self.arbiter else source
            return [_auth_entry(function, signer, source)]
        if function.type == kind.HOST_FUNCTION_TYPE_CREATE_CONTRACT_V2:
            preimage = function.create_contract_v2.contract_id_preimage
            if preimage.from_address:
                deployer = Address.from_xdr_sc_address(preimage.from_address.address).address
                return [_auth_entry(function, deployer, source)]
        return []

    def _run(
        self, function: stellar_xdr.HostFunction, source: str, *, simulate: bool
    ) -> stellar_xdr.SCVal:
        """Execute (or, simulating, try on a replayed copy) one host function: its return
        value."""
        kind = stellar_xdr.HostFunctionType
        if function.type == kind.HOST_FUNCTION_TYPE_UPLOAD_CONTRACT_WASM:
            wasm_hash = hashlib.sha256(function.wasm).digest()
            if not simulate:
                self.wasm[wasm_hash] = function.wasm
            return scval.to_bytes(wasm_hash)
        if function.type == kind.HOST_FUNCTION_TYPE_CREATE_CONTRACT_V2:
            return self._create_contract(function.create_contract_v2, simulate=simulate)
        if function.type == kind.HOST_FUNCTION_TYPE_CREATE_CONTRACT:  # an asset contract
            return self._create_contract(function.create_contract, simulate=simulate)
        if function.type != kind.HOST_FUNCTION_TYPE_INVOKE_CONTRACT:
            raise _Rejected(TxCode.txMALFORMED, f"unsupported host function {function.type}")
        invoke = function.invoke_contract
        contract = Address.from_xdr_sc_address(invoke.contract_address).address
        if contract != self.contract_address:
            raise _Rejected(TxCode.txFAILED, f"{contract} is not the escrow contract")
        name = invoke.function_name.sc_symbol.decode()
        if name not in escrow_scval.SIGNATURES:
            raise _Rejected(TxCode.txFAILED, f"the escrow contract has no function {name!r}")
        try:
            args = escrow_scval.decode_args(name, invoke.args)
        except ValueError as exc:
            raise _Rejected(TxCode.txFAILED, str(exc)) from None
        if self._call_faults:
            raise self._call_faults.pop(0)
        try:
            if name == "get":
                return escrow_scval.encode_escrow(self._model.get(args["reference"]))
            model = self._replayed() if simulate else self._model
            _call(model, name, args, key=secrets.token_hex(8))
        except ContractError as exc:
            # The model's overdrawn transfer is, on chain, the token refusing it.
            if exc.code == "token_insufficient_balance":
                raise self._failure(BALANCE_ERROR, by_token=True) from None
            raise self._failure(ERROR_NUMBERS[exc.code]) from None
        return scval.to_void()

    def _failure(self, number: int, *, by_token: bool = False) -> ContractFailure:
        return ContractFailure(number, self.token_address if by_token else self.contract_address)

    def _error_trail(self, failure: ContractFailure) -> list[tuple[str | None, str]]:
        """(contract, message) of each ("error", ...) diagnostic event the host logs for a failed
        escrow call, oldest first: where the error was raised, then its escalation in the escrow
        contract (which calls the token)."""
        if failure.contract == self.contract_address:
            raised, through = "failing with contract error", "fail_with_error"
        else:
            raised, through = "token call failed", "call"
        return [
            (failure.contract, raised),
            (
                self.contract_address,
                f"escalating error to VM trap from failed host function call: {through}",
            ),
        ]

    def _error_events(self, failure: ContractFailure) -> list[str]:
        """The trail as DiagnosticEvent XDR (none for a failure without a contract error)."""
        if failure.number is None:
            return []
        return [
            _error_event(failure.number, contract, message).to_xdr()
            for contract, message in self._error_trail(failure)
        ]

    def _create_contract(
        self,
        args: stellar_xdr.CreateContractArgs | stellar_xdr.CreateContractArgsV2,
        *,
        simulate: bool,
    ) -> stellar_xdr.SCVal:
        preimage = args.contract_id_preimage
        contract = _contract_address(preimage, self.network_passphrase)
        if contract in self.contracts:
            raise _Rejected(TxCode.txFAILED, f"contract {contract} already exists")
        is_wasm = args.executable.type == (
            stellar_xdr.ContractExecutableType.CONTRACT_EXECUTABLE_WASM
        )
        if is_wasm and args.executable.wasm_hash.hash not in self.wasm:
            raise _Rejected(TxCode.txFAILED, "wasm not uploaded")
        if not simulate:
            wasm_hash = args.executable.wasm_hash.hash if is_wasm else b""
            constructor_args = getattr(args, "constructor_args", [])  # v1 has none
            self.contracts[contract] = Deployment(wasm_hash, list(constructor_args))
            if is_wasm:
                self.contract_address = contract  # the fake models one escrow contract
        return scval.to_address(contract)

    def _replayed(self) -> Backend:
        """A fresh contract model with every applied call replayed: simulations change nothing."""
        model = self.contract_model()
        for number, applied in enumerate(self.writes()):
            _call(model, applied.function, applied.args, key=f"replay-{number}")
        return model

    def _apply(self, tx_hash: str, tx: _Tx) -> bool:
        """Close a ledger with this transaction: its sequence number is used, success or not.
        A queued transaction whose sequence number was taken meanwhile is dropped (False)."""
        envelope = tx.envelope
        source = envelope.transaction.source.account_id
        if envelope.transaction.sequence != self.accounts[source] + 1:
            self.rejected.append((tx_hash, "its sequence number was used while it was queued"))
            del self.transactions[tx_hash]
            return False
        self.accounts[source] = envelope.transaction.sequence
        self.ledger += 1
        tx.ledger = self.ledger
        tx.status = "SUCCESS"
        for op in envelope.transaction.operations:
            if isinstance(op, InvokeHostFunction):
                self._apply_invocation(tx_hash, tx, op, source)
            else:
                self._apply_classic(op, source)
        return True

    def _apply_invocation(self, tx_hash: str, tx: _Tx, op: InvokeHostFunction, source: str) -> None:
        function = op.host_function
        if function.type != stellar_xdr.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT:
            self._run(function, source, simulate=False)
            return
        name = function.invoke_contract.function_name.sc_symbol.decode()
        args = escrow_scval.decode_args(name, function.invoke_contract.args)
        applied = Applied(tx_hash, name, args)
        if self._apply_faults:
            applied.error = self._apply_faults.pop(0)
        else:
            try:
                self._run(function, source, simulate=False)
            except ContractFailure as failure:
                applied.error = failure
        self.applied.append(applied)
        if applied.error is not None:
            tx.status, tx.error = "FAILED", applied.error

    def _apply_classic(self, op: Any, source: str) -> None:
        op_source = op.source.account_id if op.source else source
        if isinstance(op, CreateAccount):
            self.create_account(op.destination, self.ledger << 32)
        elif isinstance(op, ChangeTrust):
            self.trustlines.add((op_source, f"{op.asset.code}:{op.asset.issuer}"))
        elif isinstance(op, Payment):
            asset = f"{op.asset.code}:{op.asset.issuer}"
            self.payments.append((op_source, op.destination.account_id, asset, str(op.amount)))


class _FakeClient(BaseSyncClient):
    """stellar-sdk's HTTP client interface, answered in-process."""

    def __init__(self, fake: FakeStellarRpc) -> None:
        self.fake = fake

    def post(self, url: str, data: dict | None = None, json_data: dict | None = None) -> Response:
        try:
            answer = self.fake.handle(json_data or {})
        except _Transport:
            raise StellarConnectionError("the fake RPC dropped the connection") from None
        return Response(200, json.dumps(answer), {}, url)

    def get(self, url: str, params: dict | None = None, max_content_size: int | None = None):
        raise NotImplementedError("Stellar RPC is JSON-RPC over POST")

    def stream(self, url: str, params: dict | None = None):
        raise NotImplementedError("Stellar RPC has no streams")

    def close(self) -> None:
        pass


_SOURCE = stellar_xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT


def _call(model: Backend, function: str, args: dict, *, key: str) -> None:
    call = dict(args)
    contract_id = call.pop("reference")
    getattr(model, function)(key=key, contract_id=contract_id, **call)


def _single_invocation(envelope: TransactionEnvelope) -> InvokeHostFunction:
    operations = envelope.transaction.operations
    if len(operations) != 1 or not isinstance(operations[0], InvokeHostFunction):
        raise _Rejected(TxCode.txMALFORMED, "a Soroban transaction has exactly one invocation")
    return operations[0]


def _describe(function: stellar_xdr.HostFunction) -> str:
    if function.invoke_contract:
        return function.invoke_contract.function_name.sc_symbol.decode()
    return function.type.name


def _auth_entry(
    function: stellar_xdr.HostFunction, signer: str, source: str
) -> stellar_xdr.SorobanAuthorizationEntry:
    """What a recording simulation returns: the source account's own authorisation rides on the
    transaction signature; anyone else's needs a signed address credential."""
    if function.invoke_contract:
        authorized = stellar_xdr.SorobanAuthorizedFunction(
            stellar_xdr.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
            contract_fn=function.invoke_contract,
        )
    else:
        authorized = stellar_xdr.SorobanAuthorizedFunction(
            stellar_xdr.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CREATE_CONTRACT_V2_HOST_FN,
            create_contract_v2_host_fn=function.create_contract_v2,
        )
    invocation = stellar_xdr.SorobanAuthorizedInvocation(authorized, [])
    if signer == source:
        credentials = stellar_xdr.SorobanCredentials(_SOURCE)
    else:
        credentials = stellar_xdr.SorobanCredentials(
            stellar_xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS_V2,
            address_v2=stellar_xdr.SorobanAddressCredentials(
                address=Address(signer).to_xdr_sc_address(),
                nonce=stellar_xdr.Int64(secrets.randbits(63)),
                signature_expiration_ledger=stellar_xdr.Uint32(0),
                signature=scval.to_void(),
            ),
        )
    return stellar_xdr.SorobanAuthorizationEntry(credentials, invocation)


def _root(entry: stellar_xdr.SorobanAuthorizationEntry) -> bytes:
    return entry.root_invocation.to_xdr_bytes()


def _signed_by(envelope: TransactionEnvelope, account: str) -> bool:
    keypair = Keypair.from_public_key(account)
    tx_hash = envelope.hash()
    for signature in envelope.signatures:
        if signature.signature_hint == keypair.signature_hint():
            try:
                keypair.verify(tx_hash, signature.signature)
                return True
            except BadSignatureError:
                pass
    return False


def _verify(signer: str, payload: bytes, signature: stellar_xdr.SCVal) -> bool:
    """The default account's signature shape: Vec<Map{public_key, signature}>."""
    keypair = Keypair.from_public_key(signer)
    for item in scval.from_vec(signature) if signature.vec else []:
        fields = {scval.from_symbol(k): v for k, v in scval.from_map(item).items()}
        if scval.from_bytes(fields["public_key"]) != keypair.raw_public_key():
            continue
        try:
            keypair.verify(payload, scval.from_bytes(fields["signature"]))
            return True
        except BadSignatureError:
            return False
    return False


def _contract_address(preimage: stellar_xdr.ContractIDPreimage, passphrase: str) -> str:
    """The contract's address as the network derives it (the SDK's Asset.contract_id does the
    same for asset contracts)."""
    full = stellar_xdr.HashIDPreimage(
        stellar_xdr.EnvelopeType.ENVELOPE_TYPE_CONTRACT_ID,
        contract_id=stellar_xdr.HashIDPreimageContractID(
            network_id=stellar_xdr.Hash(Network(passphrase).network_id()),
            contract_id_preimage=preimage,
        ),
    )
    return Address.from_raw_contract(hashlib.sha256(full.to_xdr_bytes()).digest()).address


def _account_entry(account: str, sequence: int) -> stellar_xdr.LedgerEntryData:
    entry = stellar_xdr.AccountEntry(
        account_id=Keypair.from_public_key(account).xdr_account_id(),
        balance=stellar_xdr.Int64(10_000 * 10**7),
        seq_num=stellar_xdr.SequenceNumber(stellar_xdr.Int64(sequence)),
        num_sub_entries=stellar_xdr.Uint32(0),
        inflation_dest=None,
        flags=stellar_xdr.Uint32(0),
        home_domain=stellar_xdr.String32(b""),
        thresholds=stellar_xdr.Thresholds(bytes([1, 0, 0, 0])),
        signers=[],
        ext=stellar_xdr.AccountEntryExt(0),
    )
    return stellar_xdr.LedgerEntryData(stellar_xdr.LedgerEntryType.ACCOUNT, account=entry)


def _transaction_result(code: TxCode) -> str:
    return stellar_xdr.TransactionResult(
        fee_charged=stellar_xdr.Int64(0),
        result=stellar_xdr.TransactionResultResult(code, results=[]),
        ext=stellar_xdr.TransactionResultExt(0),
    ).to_xdr()


def _error_event(number: int, contract: str | None, message: str) -> stellar_xdr.DiagnosticEvent:
    """The host's diagnostic event for Error(Contract, #number), logged in `contract`'s frame."""
    contract_id = (
        stellar_xdr.ContractID(stellar_xdr.Hash(Address(contract).key)) if contract else None
    )
    return stellar_xdr.DiagnosticEvent(
        in_successful_contract_call=False,
        event=stellar_xdr.ContractEvent(
            ext=stellar_xdr.ExtensionPoint(0),
            contract_id=contract_id,
            type=stellar_xdr.ContractEventType.DIAGNOSTIC,
            body=stellar_xdr.ContractEventBody(
                0,
                v0=stellar_xdr.ContractEventV0(
                    topics=[scval.to_symbol("error"), escrow_scval.contract_error(number)],
                    data=scval.to_string(message),
                ),
            ),
        ),
    )


def _error(request: dict, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": code, "message": message}}
