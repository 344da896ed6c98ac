"""The service's settings, read from the environment only. Secrets (the API key, the operator,
arbiter, fee account and channel seeds) never appear in a repr, a log line or an answer."""

import hashlib
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from stellar_sdk import Keypair, StrKey
from stellar_sdk.network import Network

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_API_KEY = "local-stellar-api-key"
BACKENDS = ("local", "soroban")


def local_account(label: str) -> str:
    """A fixed, well-formed address for the local backend's actors (nobody holds its key)."""
    return StrKey.encode_ed25519_public_key(hashlib.sha256(f"kazi local {label}".encode()).digest())


# The local backend's stand-ins for on-chain accounts when nothing is configured.
LOCAL_FUNDER_ACCOUNT = local_account("funder")
LOCAL_FEE_ACCOUNT = local_account("fee account")
LOCAL_CONTRACT_ADDRESS = StrKey.encode_contract(
    hashlib.sha256(b"kazi local escrow contract").digest()
)


class ConfigError(ValueError):
    pass


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int) -> int:
    raw = _env(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None


def _seconds(name: str, default: float) -> float:
    raw = _env(name)
    try:
        seconds = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if not 0 < seconds < 3600:
        raise ConfigError(f"{name} must be more than 0 seconds and less than an hour")
    return seconds


def _stroops(name: str, default: str) -> int:
    """An amount of XLM (up to 7 decimals) as stroops."""
    try:
        amount = Decimal(_env(name) or default) * 10**7
    except InvalidOperation:
        raise ConfigError(f"{name} must be an amount of XLM") from None
    if amount != amount.to_integral_value() or amount < 0:
        raise ConfigError(f"{name} must be an amount of XLM >= 0, at most 7 decimals")
    return int(amount)


def _secrets(name: str) -> tuple[str, ...]:
    return tuple(secret.strip() for secret in _env(name).split(",") if secret.strip())


@dataclass(frozen=True)
class Config:
    api_key: str = field(repr=False)
    backend: str = "local"
    db_path: Path = REPO_DIR / "var" / "stellar-service.sqlite3"
    port: int = 8001
    production: bool = False
    rpc_url: str = ""
    network_passphrase: str = Network.TESTNET_NETWORK_PASSPHRASE
    contract_address: str = ""  # C...
    operator_secret: str = field(default="", repr=False)  # S...; signs every write but resolve
    arbiter_secret: str = field(default="", repr=False)  # S...; signs resolve (else the operator)
    funder_account: str = LOCAL_FUNDER_ACCOUNT  # G...: the float whose tokens fund escrows
    # Stroops a transaction may pay (4 XLM): a create pays about 3.6 M in rent, and the first write
    # of a day also extends the contract instance and code, about 25 M more (contract README).
    max_fee: int = 40_000_000
    # Transactions' source accounts (S...); none: the operator is the only source.
    channel_secrets: tuple[str, ...] = field(default=(), repr=False)
    fee_account_secret: str = field(default="", repr=False)  # S...; pays by fee bump
    low_balance: int = 50_000_000  # stroops: a channel or the fee account below it is a warning
    # How often the network closes a ledger: an authorisation is signed to last, in ledgers, as
    # long as its envelope can land (Stellar's ~5 s; the local network's LEDGER_CLOSE_MS).
    ledger_seconds: float = 5.0
    # The local backend's deployment (the real contract's are fixed at its construction).
    local_fee_bps: int = 0
    local_fee_account: str = LOCAL_FEE_ACCOUNT

    @classmethod
    def from_env(cls) -> "Config":
        production = _env("KAZI_ENV", "embedded") == "production"
        backend = _env("STELLAR_BACKEND", "local")
        if backend not in BACKENDS:
            raise ConfigError(f"STELLAR_BACKEND must be one of {', '.join(BACKENDS)}")
        api_key = _env("STELLAR_CONTRACT_API_KEY")
        if not api_key and (production or backend != "local"):
            raise ConfigError("STELLAR_CONTRACT_API_KEY must be set outside the embedded default")
        if production and api_key == DEFAULT_API_KEY:
            raise ConfigError("KAZI_ENV=production refuses the embedded default API key")
        var_dir = Path(_env("KAZI_VAR_DIR") or REPO_DIR / "var")
        operator_secret = _env("STELLAR_OPERATOR_SECRET")
        arbiter_secret = _env("STELLAR_ARBITER_SECRET")
        fee_account_secret = _env("STELLAR_FEE_ACCOUNT_SECRET")
        channel_secrets = _secrets("STELLAR_CHANNEL_SECRETS")
        channels = _int("STELLAR_CHANNELS", 4)
        if channel_secrets and not 0 < channels <= len(channel_secrets):
            raise ConfigError(
                f"STELLAR_CHANNELS must be 1 to the {len(channel_secrets)} secrets"
                " STELLAR_CHANNEL_SECRETS holds"
            )
        for name, secret in (
            ("STELLAR_OPERATOR_SECRET", operator_secret),
            ("STELLAR_ARBITER_SECRET", arbiter_secret),
            ("STELLAR_FEE_ACCOUNT_SECRET", fee_account_secret),
            *(("STELLAR_CHANNEL_SECRETS", secret) for secret in channel_secrets),
        ):
            if secret and not StrKey.is_valid_ed25519_secret_seed(secret):
                raise ConfigError(f"{name} is not a valid secret seed (S...)")
        default_funder = (
            Keypair.from_secret(operator_secret).public_key
            if operator_secret
            else LOCAL_FUNDER_ACCOUNT
        )
        config = cls(
            api_key=api_key or DEFAULT_API_KEY,
            backend=backend,
            db_path=Path(_env("STELLAR_SERVICE_DB") or var_dir / "stellar-service.sqlite3"),
            port=_int("STELLAR_PORT", 8001),
            production=production,
            rpc_url=_env("STELLAR_RPC_URL"),
            network_passphrase=_env(
                "STELLAR_NETWORK_PASSPHRASE", Network.TESTNET_NETWORK_PASSPHRASE
            ),
            contract_address=_env("STELLAR_CONTRACT_ADDRESS"),
            operator_secret=operator_secret,
            arbiter_secret=arbiter_secret,
            funder_account=_env("STELLAR_FUNDER_ACCOUNT") or default_funder,
            max_fee=_int("STELLAR_MAX_FEE", 40_000_000),
            channel_secrets=channel_secrets[:channels],
            fee_account_secret=fee_account_secret,
            low_balance=_stroops("STELLAR_LOW_BALANCE_XLM", "5"),
            ledger_seconds=_seconds("STELLAR_LEDGER_SECONDS", 5.0),
            local_fee_bps=_int("STELLAR_LOCAL_FEE_BPS", 0),
            local_fee_account=_env("STELLAR_LOCAL_FEE_ACCOUNT") or LOCAL_FEE_ACCOUNT,
        )
        config.validate()
        return config

    def validate(self) -> None:
        if not StrKey.is_valid_ed25519_public_key(self.funder_account):
            raise ConfigError("STELLAR_FUNDER_ACCOUNT is not a valid account (G...)")
        if not 0 < self.port < 65536:
            raise ConfigError("STELLAR_PORT must be a TCP port")
        if self.max_fee <= 0:
            raise ConfigError("STELLAR_MAX_FEE must be positive")
        if self.backend == "soroban":
            if not self.rpc_url:
                raise ConfigError("STELLAR_RPC_URL must be set for the soroban backend")
            if not StrKey.is_valid_contract(self.contract_address):
                raise ConfigError("STELLAR_CONTRACT_ADDRESS must be a contract address (C...)")
            if not self.operator_secret:
                raise ConfigError("STELLAR_OPERATOR_SECRET must be set for the soroban backend")
