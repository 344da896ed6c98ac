"""The operator's command line for the Stellar escrow contract.

    python -m stellar_service.cli keys generate
    python -m stellar_service.cli deploy --rpc-url URL --network-passphrase PHRASE --wasm PATH
    python -m stellar_service.cli show ESCROW_XXXXXXXX
    python -m stellar_service.cli channels [create --count N | top-up]

Secrets come from the environment only and are never printed, except the new secrets of
`keys generate` and `channels create`, which go to stdout alone, once (the warning goes to
stderr)."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from stellar_sdk import (
    Asset,
    Keypair,
    Network,
    SorobanServer,
    StrKey,
    TransactionBuilder,
    TransactionEnvelope,
    scval,
)
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.exceptions import (
    AccountNotFoundException,
    BaseRequestError,
    PrepareTransactionException,
)
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from stellar_service.backends import build_backend
from stellar_service.backends.base import ContractError, Unavailable
from stellar_service.backends.channels import read_accounts, xlm
from stellar_service.backends.soroban import SorobanBackend
from stellar_service.config import Config, ConfigError

REPO_DIR = Path(__file__).resolve().parent.parent
# Where `make contract` leaves the wasm (the workspace's own wasm target dir first, then cargo's
# default one).
WASM_PATHS = tuple(
    REPO_DIR / "contracts/target" / sub / "wasm32v1-none/release/kazi_escrow.wasm"
    for sub in ("wasm", ".")
)
DEFAULT_WASM = next((path for path in WASM_PATHS if path.is_file()), WASM_PATHS[0])
# The contract's constructor, in its order (contracts/escrow/README.md).
CONSTRUCTOR = ("admin", "operator", "arbiter", "token", "fee_account", "fee_bps")
MAX_FEE_BPS = 1_000
BASE_FEE = 100  # stroops per operation, on top of a Soroban call's resource fee
TIMEOUT = 300  # seconds each deployment transaction stays valid
POLL_ATTEMPTS = 60
MAX_OPERATIONS = 100  # per transaction
SECRET_WARNING = (
    "WARNING: the secrets below control the accounts. Store them in your secret manager now;"
    " they are shown once and never logged."
)


class CliError(Exception):
    """A message for the operator; the command exits 1."""


def _optional_key(name: str) -> Keypair | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not StrKey.is_valid_ed25519_secret_seed(value):
        raise CliError(f"{name} is not a valid secret seed (S...)")  # never the value itself
    return Keypair.from_secret(value)


def _key(name: str) -> Keypair:
    keypair = _optional_key(name)
    if keypair is None:
        raise CliError(f"{name} must be set in the environment")
    return keypair


# --- keys generate ----------------------------------------------------------------------------


def keys_generate(args: argparse.Namespace) -> None:
    keypair = Keypair.random()
    print(SECRET_WARNING, file=sys.stderr)
    print(f"public key: {keypair.public_key}")
    print(f"secret:     {keypair.secret}")


# --- deploy -----------------------------------------------------------------------------------


@dataclass
class Deployer:
    """One network's RPC and the transactions the deployment sends through it."""

    rpc: SorobanServer
    passphrase: str
    max_fee: int

    def submit(self, envelope: TransactionEnvelope, *signers: Keypair) -> None:
        for signer in signers:
            envelope.sign(signer)
        sent = self.rpc.send_transaction(envelope)
        if sent.status not in (SendTransactionStatus.PENDING, SendTransactionStatus.DUPLICATE):
            raise CliError(f"transaction {sent.hash} was not accepted: {sent.status.value}")
        result = self.rpc.poll_transaction(sent.hash, max_attempts=POLL_ATTEMPTS)
        if result.status != GetTransactionStatus.SUCCESS:
            raise CliError(f"transaction {sent.hash}: {result.status.value}")

    def builder(self, source: Keypair) -> TransactionBuilder:
        account = self.rpc.load_account(source.public_key)
        return TransactionBuilder(account, self.passphrase, BASE_FEE).set_timeout(TIMEOUT)

    def invoke(self, source: Keypair, envelope: TransactionEnvelope) -> stellar_xdr.SCVal:
        """Simulate, prepare, check the fee, sign and send one host-function call; its result
        (as simulated: the deployment's values are fixed by the transaction itself)."""
        simulation = self.rpc.simulate_transaction(envelope)
        if simulation.error or not simulation.results:
            raise CliError(f"simulation failed: {(simulation.error or '').splitlines()[:1]}")
        prepared = self.rpc.prepare_transaction(envelope, simulation)
        if prepared.transaction.fee > self.max_fee:
            raise CliError(
                f"the fee {prepared.transaction.fee} stroops is above --max-fee {self.max_fee}"
            )
        self.submit(prepared, source)
        return stellar_xdr.SCVal.from_xdr(simulation.results[0].xdr)


def deploy(args: argparse.Namespace) -> None:
    admin = _key("STELLAR_ADMIN_SECRET")
    operator = _key("STELLAR_OPERATOR_SECRET")
    issuer = _key("STELLAR_ISSUER_SECRET")
    arbiter = _optional_key("STELLAR_ARBITER_SECRET") or operator
    funder = _optional_key("STELLAR_FUNDER_SECRET") or operator
    fee_account = args.fee_account or admin.public_key
    if not StrKey.is_valid_ed25519_public_key(fee_account):
        raise CliError("--fee-account must be an account (G...)")
    if not 0 <= args.fee_bps <= MAX_FEE_BPS:
        raise CliError(f"--fee-bps must be 0 to {MAX_FEE_BPS}")
    wasm = Path(args.wasm)
    if not wasm.is_file():
        raise CliError(f"no wasm at {wasm}: build it with `make contract`")

    network = Deployer(SorobanServer(args.rpc_url), args.network_passphrase, args.max_fee)
    if network.rpc.get_network().passphrase != args.network_passphrase:
        raise CliError("the RPC serves another network than --network-passphrase")
    asset = Asset(args.asset_code, issuer.public_key)

    # Trustlines for the accounts that will hold the token (the funder's float, the fee account),
    # each signed by its own key; the issuer needs none for its own asset.
    ours = {keypair.public_key: keypair for keypair in (funder, admin, operator)}
    for holder in dict.fromkeys((funder.public_key, fee_account)):
        if holder == issuer.public_key:
            continue
        if holder not in ours:
            _say(f"note: {holder} needs a {asset.code} trustline before its first release")
            continue
        trust = network.builder(ours[holder]).append_change_trust_op(asset)
        network.submit(trust.build(), ours[holder])
        _say(f"trustline {asset.code} for {holder}")
    if args.mint:
        payment = network.builder(issuer).append_payment_op(
            funder.public_key, asset, str(args.mint)
        )
        network.submit(payment.build(), issuer)
        _say(f"issued {args.mint} {asset.code} to the funder {funder.public_key}")

    token = asset.contract_id(args.network_passphrase)
    sac = network.builder(admin).append_create_stellar_asset_contract_from_asset_op(asset)
    try:
        network.invoke(admin, sac.build())
        _say(f"asset contract {token} deployed")
    except CliError as exc:
        if "already exists" not in str(exc) and "ExistingValue" not in str(exc):
            raise
        _say(f"asset contract {token} already deployed")

    upload = network.builder(admin).append_upload_contract_wasm_op(wasm.read_bytes())
    wasm_hash = scval.from_bytes(network.invoke(admin, upload.build()))
    _say(f"wasm uploaded: {wasm_hash.hex()}")

    roles = {
        "admin": admin.public_key,
        "operator": operator.public_key,
        "arbiter": arbiter.public_key,
        "token": token,
        "fee_account": fee_account,
    }
    constructor = [scval.to_address(roles[name]) for name in CONSTRUCTOR[:-1]]
    constructor.append(scval.to_uint32(args.fee_bps))
    create = network.builder(admin).append_create_contract_op(
        wasm_hash, admin.public_key, constructor_args=constructor
    )
    contract = scval.from_address(network.invoke(admin, create.build())).address
    _say(f"escrow contract {contract} created")

    print(f"contract: {contract}")
    print("# the stellar service's environment (secrets: from your secret store, not here)")
    for name, value in (
        ("STELLAR_BACKEND", "soroban"),
        ("STELLAR_RPC_URL", args.rpc_url),
        ("STELLAR_NETWORK_PASSPHRASE", args.network_passphrase),
        ("STELLAR_CONTRACT_ADDRESS", contract),
        ("STELLAR_FUNDER_ACCOUNT", funder.public_key),
        ("STELLAR_OPERATOR_SECRET", "<the operator's secret>"),
    ):
        print(f"{name}={json.dumps(value) if ' ' in value else value}")
    if arbiter is not operator:
        print("STELLAR_ARBITER_SECRET=<the arbiter's secret>")


# --- channels ---------------------------------------------------------------------------------


def _soroban_backend() -> SorobanBackend:
    backend = build_backend(Config.from_env())
    if not isinstance(backend, SorobanBackend):
        raise CliError("channels need STELLAR_BACKEND=soroban and its settings")
    return backend


def channels_list(args: argparse.Namespace) -> None:
    """Each channel and the fee account, as the network holds them (the service's health)."""
    health = _soroban_backend().health()
    rows = [("channel", c) for c in health["channels"]] + [("fee", health["fee_account"])]
    for role, account in rows:
        print(
            f"{role:8} {account['account']}  {account['balance_xlm'] or 'missing':>18} XLM"
            f"  seq {account['sequence'] or '-'}  in flight {account['in_flight'] or '-'}"
        )
    for warning in health["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def pay_accounts(
    network: Deployer, funder: Keypair, payments: dict[str, int], *, create: bool
) -> None:
    """Stroops to each account from the funding account: CreateAccount for new accounts, else
    Payment; as many transactions as the operation limit needs."""
    items = list(payments.items())
    for start in range(0, len(items), MAX_OPERATIONS):
        builder = network.builder(funder)
        for account, stroops in items[start : start + MAX_OPERATIONS]:
            if create:
                builder.append_create_account_op(account, xlm(stroops))
            else:
                builder.append_payment_op(account, Asset.native(), xlm(stroops))
        network.submit(builder.build(), funder)


def _stroops(value: str) -> int:
    return round(Decimal(value) * 10**7)


def channels_create(args: argparse.Namespace) -> None:
    funder = _key("STELLAR_FUNDING_SECRET")
    if not 0 < args.count < MAX_OPERATIONS:  # one transaction, the fee account included
        raise CliError(f"--count must be 1 to {MAX_OPERATIONS - 1}")
    if not args.rpc_url:
        raise CliError("--rpc-url (or STELLAR_RPC_URL) is required")
    channels = [Keypair.random() for _ in range(args.count)]
    fee_account = Keypair.random() if args.fee_account else None
    payments = {channel.public_key: _stroops(args.balance) for channel in channels}
    if fee_account:
        payments[fee_account.public_key] = _stroops(args.fee_balance)
    network = Deployer(SorobanServer(args.rpc_url), args.network_passphrase, args.max_fee)
    pay_accounts(network, funder, payments, create=True)
    _say(f"{len(payments)} accounts created and funded from {funder.public_key}")
    print(SECRET_WARNING, file=sys.stderr)
    print(f"STELLAR_CHANNELS={len(channels)}")
    print(f"STELLAR_CHANNEL_SECRETS={','.join(channel.secret for channel in channels)}")
    if fee_account:
        print(f"STELLAR_FEE_ACCOUNT_SECRET={fee_account.secret}")


def channels_top_up(args: argparse.Namespace) -> None:
    """Brings each channel to --to XLM and the fee account to --fee-to XLM, from the funding
    account; accounts already there get nothing."""
    funder = _key("STELLAR_FUNDING_SECRET")
    backend = _soroban_backend()
    targets = {channel.public_key: _stroops(args.to) for channel in backend.pool.channels}
    targets[backend.fee_payer] = _stroops(args.fee_to)
    balances = read_accounts(backend.rpc, list(targets))
    payments = {
        account: target - balances[account].balance
        for account, target in targets.items()
        if account in balances and balances[account].balance < target
    }
    for account in targets.keys() - balances.keys():
        _say(f"note: {account} does not exist: create it first")
    if payments:
        network = Deployer(backend.rpc, backend.config.network_passphrase, args.max_fee)
        pay_accounts(network, funder, payments, create=False)
    for account, stroops in payments.items():
        print(f"topped up {account} by {xlm(stroops)} XLM")


# --- show -------------------------------------------------------------------------------------


def show(args: argparse.Namespace) -> None:
    """The escrow as the configured backend (the service's environment) reads it."""
    escrow = build_backend(Config.from_env()).get(args.contract_id)
    print(json.dumps(escrow.as_dict(), indent=2))


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m stellar_service.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)

    keys = commands.add_parser("keys", help="key pairs").add_subparsers(dest="keys", required=True)
    keys.add_parser("generate", help="print a new key pair").set_defaults(run=keys_generate)

    dep = commands.add_parser(
        "deploy",
        help="upload the wasm, create the contract, issue the asset and its contract",
        description="Secrets from the environment: STELLAR_ADMIN_SECRET (deploys, pays, may"
        " upgrade), STELLAR_OPERATOR_SECRET, STELLAR_ISSUER_SECRET (issues the asset),"
        " optional STELLAR_ARBITER_SECRET and STELLAR_FUNDER_SECRET (default: the operator)."
        " The accounts must exist (testnet: fund them with friendbot first).",
    )
    dep.add_argument("--rpc-url", required=True)
    dep.add_argument("--network-passphrase", default=Network.TESTNET_NETWORK_PASSPHRASE)
    dep.add_argument("--wasm", default=str(DEFAULT_WASM))
    dep.add_argument("--asset-code", default="KES")
    dep.add_argument("--fee-bps", type=int, default=0, help="platform fee, 0 to 1000")
    dep.add_argument("--fee-account", help="G... receiving the fee (default: the admin)")
    dep.add_argument("--mint", type=int, default=0, help="whole units issued to the funder")
    dep.add_argument("--max-fee", type=int, default=100_000_000, help="stroops per transaction")
    dep.set_defaults(run=deploy)

    shw = commands.add_parser("show", help="an escrow, through the configured backend")
    shw.add_argument("contract_id", metavar="ESCROW_XXXXXXXX")
    shw.set_defaults(run=show)

    chn = commands.add_parser(
        "channels",
        help="list the channel accounts and the fee account (the service's environment)",
        description="Without a subcommand: each channel's and the fee account's balance,"
        " sequence number and transaction in flight. `create` and `top-up` pay from the"
        " account whose secret is STELLAR_FUNDING_SECRET.",
    )
    chn.set_defaults(run=channels_list)
    channel_commands = chn.add_subparsers(dest="channels")
    new = channel_commands.add_parser("create", help="create and fund new channel accounts")
    new.add_argument("--count", type=int, default=4)
    new.add_argument("--balance", default="10", help="XLM each channel starts with")
    new.add_argument("--fee-account", action="store_true", help="create a fee account too")
    new.add_argument("--fee-balance", default="100", help="XLM the fee account starts with")
    new.add_argument("--rpc-url", default=os.environ.get("STELLAR_RPC_URL"))
    new.add_argument(
        "--network-passphrase",
        default=os.environ.get("STELLAR_NETWORK_PASSPHRASE") or Network.TESTNET_NETWORK_PASSPHRASE,
    )
    new.add_argument("--max-fee", type=int, default=1_000_000, help="stroops per transaction")
    new.set_defaults(run=channels_create)
    top = channel_commands.add_parser("top-up", help="top the channels and the fee account up")
    top.add_argument("--to", default="10", help="XLM each channel is brought to")
    top.add_argument("--fee-to", default="100", help="XLM the fee account is brought to")
    top.add_argument("--max-fee", type=int, default=1_000_000, help="stroops per transaction")
    top.set_defaults(run=channels_top_up)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (CliError, ConfigError, ContractError, Unavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AccountNotFoundException as exc:
        print(f"error: {exc} (testnet: fund it with friendbot first)", file=sys.stderr)
        return 1
    except (BaseRequestError, PrepareTransactionException) as exc:
        print(f"error: the Stellar RPC failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
