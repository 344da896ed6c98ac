"""The local Stellar network (contracts/localnet) for the soroban backend's and the CLI's tests:
the real Soroban host running the contract's wasm behind Stellar RPC's JSON-RPC.

One network per test session (a subprocess on a free port, a fresh state directory, a ledger
every 100 ms), the contract deployed on it once by `python -m stellar_service.cli deploy`. Tests
share the chain, so each uses references of its own (`reference()`).

Without the built binary (`make localnet-build`) or the wasm (`make contract`) these tests skip
saying why; with KAZI_REQUIRE_LOCALNET=1 the skip is a failure."""

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from stellar_sdk import (
    Address,
    Asset,
    Keypair,
    SorobanServer,
    TransactionBuilder,
    scval,
)
from stellar_sdk import xdr as stellar_xdr

from stellar_service.cli import DEFAULT_WASM, REPO_DIR

PASSPHRASE = "Standalone Network ; February 2017"
BINARY = REPO_DIR / "contracts/target/debug/kazi-localnet"
LEDGER_CLOSE_MS = 100
MINT = 1_000_000_000  # whole KES issued to the funder (the operator) at deployment
ASSET_CODE = "KES"
# Stroops a deployment transaction may cost: uploading the wasm pays its rent for 120 days.
DEPLOY_MAX_FEE = 10_000_000_000


def _key(label: str) -> Keypair:
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"kazi localnet {label}".encode()).digest())


ADMIN = _key("admin")
OPERATOR = _key("operator")
ISSUER = _key("issuer")
ARBITER = _key("arbiter")


def unavailable(why: str) -> None:
    """Skip, or fail when the local network is required."""
    if os.environ.get("KAZI_REQUIRE_LOCALNET") == "1":
        pytest.fail(f"{why}, and KAZI_REQUIRE_LOCALNET=1 is set", pytrace=False)
    pytest.skip(why)


# stellar-sdk's HTTP client retries a POST answered 503 or whose answer was lost, three times:
# a fault must last this many calls to reach the caller.
SDK_ATTEMPTS = 4


def reference() -> str:
    """A reference no other test uses on the shared chain (Crockford base32, as Django's)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "ESCROW_" + "".join(secrets.choice(alphabet) for _ in range(8))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Localnet:
    """A running kazi-localnet process and calls to it."""

    def __init__(self, state_dir: Path, *, port: int | None = None) -> None:
        self.state_dir = state_dir
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_dir / "localnet.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Localnet":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 (kept open for the process's life)
        self.process = subprocess.Popen(  # noqa: S603 (our own binary)
            [
                str(BINARY),
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state_dir),
                "--ledger-close-ms",
                str(LEDGER_CLOSE_MS),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kazi-localnet exited: {self.log.read_text()[-2000:]}")
            try:
                self.call("getHealth")
                return self
            except (httpx.HTTPError, RuntimeError):
                time.sleep(0.05)
        raise RuntimeError("kazi-localnet did not answer within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- JSON-RPC -----------------------------------------------------------------------------

    def post(self, body: object) -> httpx.Response:
        return httpx.post(self.url, json=body, timeout=30)

    def call(self, method: str, **params: object) -> dict:
        answer = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def server(self) -> SorobanServer:
        return SorobanServer(self.url)

    def faults(self, **faults: object) -> dict:
        return self.call("kazi_faults", **faults)

    def settle(self, timeout: float = 10.0) -> None:
        """No fault armed and nothing queued: what one test left cannot reach the next."""
        self.faults(loseResponses=0, dropTransactions=0, unavailable=0)
        deadline = time.monotonic() + timeout
        while self.faults()["queued"] and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait_ledgers(self, count: int = 1) -> None:
        target = self.call("getLatestLedger")["sequence"] + count
        while self.call("getLatestLedger")["sequence"] < target:
            time.sleep(LEDGER_CLOSE_MS / 1000)

    def friendbot(self, account: str) -> None:
        answer = httpx.get(f"{self.url}/friendbot", params={"addr": account}, timeout=60)
        assert answer.status_code == 200, answer.text

    # --- ledger reads -------------------------------------------------------------------------

    def entry(self, key: stellar_xdr.LedgerKey) -> stellar_xdr.LedgerEntryData | None:
        entries = self.call("getLedgerEntries", keys=[key.to_xdr()])["entries"]
        return stellar_xdr.LedgerEntryData.from_xdr(entries[0]["xdr"]) if entries else None

    def trustline_balance(self, account: str, asset: Asset) -> int | None:
        """The account's balance of the asset, in stroops (None: no trustline)."""
        key = stellar_xdr.LedgerKey(
            stellar_xdr.LedgerEntryType.TRUSTLINE,
            trust_line=stellar_xdr.LedgerKeyTrustLine(
                account_id=Keypair.from_public_key(account).xdr_account_id(),
                asset=asset.to_trust_line_asset_xdr_object(),
            ),
        )
        data = self.entry(key)
        return None if data is None else data.trust_line.balance.int64

    def contract_balance(self, token: str, holder: str) -> int:
        """A contract's balance on a Stellar Asset Contract: its Balance entry's amount."""
        key = stellar_xdr.LedgerKey(
            stellar_xdr.LedgerEntryType.CONTRACT_DATA,
            contract_data=stellar_xdr.LedgerKeyContractData(
                contract=Address(token).to_xdr_sc_address(),
                key=scval.to_vec([scval.to_symbol("Balance"), scval.to_address(holder)]),
                durability=stellar_xdr.ContractDataDurability.PERSISTENT,
            ),
        )
        data = self.entry(key)
        if data is None:
            return 0
        fields = scval.to_native(data.contract_data.val)
        return int(fields["amount"])

    def contract_events(self, contract: str, ref: str) -> list[str]:
        """The names of the contract's events about one escrow: one per applied write."""
        oldest = self.call("getHealth")["oldestLedger"]
        topic = scval.to_symbol(ref).to_xdr()
        answer = self.call(
            "getEvents",
            startLedger=oldest,
            filters=[{"type": "contract", "contractIds": [contract], "topics": [["*", topic]]}],
            pagination={"limit": 1000},
        )
        return [
            scval.to_native(stellar_xdr.SCVal.from_xdr(event["topic"][0]))
            for event in answer["events"]
        ]

    def transaction(self, tx_hash: str) -> dict:
        return self.call("getTransaction", hash=tx_hash)

    # --- classic setup ------------------------------------------------------------------------

    def new_account(self, label: str, trust: Asset | None = None) -> Keypair:
        """A funded account (friendbot), with a trustline to `trust` if given."""
        keypair = _key(f"{label} {secrets.token_hex(4)}")
        self.friendbot(keypair.public_key)
        if trust is not None:
            server = self.server()
            tx = (
                TransactionBuilder(server.load_account(keypair.public_key), PASSPHRASE, 100)
                .append_change_trust_op(trust)
                .set_timeout(60)
                .build()
            )
            tx.sign(keypair)
            self.submit(tx)
        return keypair

    def submit(self, envelope) -> dict:
        sent = self.server().send_transaction(envelope)
        assert sent.status.value == "PENDING", sent
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = self.transaction(sent.hash)
            if answer["status"] != "NOT_FOUND":
                assert answer["status"] == "SUCCESS", answer
                return answer
            time.sleep(LEDGER_CLOSE_MS / 1000)
        raise AssertionError(f"{sent.hash} not applied")


@dataclass
class Deployment:
    """The contract as `stellar_service.cli deploy` put it on the local network."""

    net: Localnet
    contract: str
    token: str
    asset: Asset
    fee_bps: int
    output: str
    accounts: dict[str, Keypair] = field(default_factory=dict)


def start_localnet(state_dir: Path) -> Localnet:
    if not BINARY.is_file():
        unavailable(f"no local network binary at {BINARY} (make localnet-build; needs Rust)")
    if not DEFAULT_WASM.is_file():
        unavailable(f"no contract wasm at {DEFAULT_WASM} (make contract; needs Debian's Rust)")
    return Localnet(state_dir).start()


def deploy(net: Localnet, *, fee_bps: int = 0, mint: int = MINT) -> Deployment:
    """Friendbot for the deployer's accounts, then `python -m stellar_service.cli deploy`."""
    for keypair in (ADMIN, OPERATOR, ISSUER, ARBITER):
        if net.call("getLedgerEntries", keys=[_account_key(keypair.public_key)])["entries"]:
            continue
        net.friendbot(keypair.public_key)
    env = {
        **os.environ,
        "STELLAR_ADMIN_SECRET": ADMIN.secret,
        "STELLAR_OPERATOR_SECRET": OPERATOR.secret,
        "STELLAR_ISSUER_SECRET": ISSUER.secret,
        "STELLAR_ARBITER_SECRET": ARBITER.secret,
    }
    env.pop("STELLAR_FUNDER_SECRET", None)
    command = [
        sys.executable,
        "-m",
        "stellar_service.cli",
        "deploy",
        "--rpc-url",
        net.url,
        "--network-passphrase",
        PASSPHRASE,
        "--fee-bps",
        str(fee_bps),
        "--mint",
        str(mint),
        "--max-fee",
        str(DEPLOY_MAX_FEE),
    ]
    done = subprocess.run(  # noqa: S603 (our own CLI)
        command, env=env, cwd=REPO_DIR, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    contract = done.stdout.split("contract:")[1].split()[0]
    asset = Asset(ASSET_CODE, ISSUER.public_key)
    return Deployment(
        net=net,
        contract=contract,
        token=asset.contract_id(PASSPHRASE),
        asset=asset,
        fee_bps=fee_bps,
        output=done.stdout + done.stderr,
    )


def _account_key(account: str) -> str:
    return stellar_xdr.LedgerKey(
        stellar_xdr.LedgerEntryType.ACCOUNT,
        account=stellar_xdr.LedgerKeyAccount(Keypair.from_public_key(account).xdr_account_id()),
    ).to_xdr()


def dump(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
