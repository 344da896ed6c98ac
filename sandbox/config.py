"""The sandbox's settings, from the environment only. It plays the providers, so it knows the
credentials they issued to the app: the same variables the app reads (MPESA_CONSUMER_KEY,
INTASEND_SECRET_KEY, INTERSEND_API_SECRET, ...), with the same embedded defaults, so `make run`
needs no configuration on either side. What the providers are told on their dashboards (IntaSend's
send-money webhook and its challenge, its API devices' public keys, Intersend's callback URL) is
set here too, pointing at the app (SANDBOX_APP_URL, else MPESA_CALLBACK_BASE_URL, else
http://127.0.0.1:8000), and can be changed while it runs through the control API."""

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    pass


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _number(name: str, default: str, kind: type = int) -> int | float:
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


@dataclass(frozen=True)
class DarajaAccount:
    """The organisation Safaricom knows: its Pay Bill, its B2C shortcode, the app's keys, the
    Lipa na M-Pesa passkey and the API initiator's credentials."""

    shortcode: str = "600000"
    consumer_key: str = field(default="local-consumer-key", repr=False)
    consumer_secret: str = field(default="local-consumer-secret", repr=False)
    passkey: str = field(default="local-passkey", repr=False)
    initiator_name: str = "kazi-initiator"
    security_credential: str = field(default="local-security-credential", repr=False)
    b2c_shortcode: str = ""  # empty: the Pay Bill pays out too
    organisation: str = "Kazi Trust"
    opening_float: int = 100_000_000  # KES in the B2C utility account at the start

    @property
    def payout_shortcode(self) -> str:
        return self.b2c_shortcode or self.shortcode

    @classmethod
    def from_env(cls) -> "DarajaAccount":
        return cls(
            shortcode=_env("MPESA_SHORTCODE", cls.shortcode),
            consumer_key=_env("MPESA_CONSUMER_KEY", "local-consumer-key"),
            consumer_secret=_env("MPESA_CONSUMER_SECRET", "local-consumer-secret"),
            passkey=_env("MPESA_PASSKEY", "local-passkey"),
            initiator_name=_env("MPESA_INITIATOR_NAME", cls.initiator_name),
            security_credential=_env("MPESA_SECURITY_CREDENTIAL", "local-security-credential"),
            b2c_shortcode=_env("MPESA_B2C_SHORTCODE"),
            organisation=_env("SANDBOX_ORGANISATION_NAME", cls.organisation),
            opening_float=int(_number("SANDBOX_OPENING_FLOAT", str(cls.opening_float))),
        )


def _pem(name: str) -> str:
    """A PEM from the environment, whose line breaks may be written as \\n."""
    return _env(name).replace("\\n", "\n")


def public_key_of(private_pem: str) -> str:
    """The public half of a PEM private key, as one would paste it into IntaSend's dashboard."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("INTASEND_DEVICE_PRIVATE_KEY is not an unencrypted PEM key") from None
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class IntasendAccount:
    """The IntaSend account the app's secret key belongs to: the key, the send-money webhook set
    on its dashboard (URL and challenge), its API devices (id and public key, PEM: with one, every
    approval must be signed by that device), its wallet's opening balance, and the smallest and
    largest M-Pesa B2C transfer it takes: IntaSend's mobile-money limits "are based on providers
    limits" (support.intasend.com, "Understanding Account Limits"), M-Pesa's KES 10 to 250,000 a
    transaction; set SANDBOX_INTASEND_MAX_AMOUNT lower for an account IntaSend limited."""

    secret_key: str = field(default="local-intasend-secret", repr=False)
    webhook_url: str = "http://127.0.0.1:8000/api/callbacks/intasend/payout/"
    challenge: str = field(default="local-intasend-challenge", repr=False)
    devices: tuple[tuple[str, str], ...] = ()  # (device id, public key PEM)
    opening_balance: int = 10_000_000  # KES in the wallet at the start
    minimum: int = 10
    maximum: int = 250_000

    @classmethod
    def from_env(cls, app_url: str) -> "IntasendAccount":
        devices: tuple[tuple[str, str], ...] = ()
        public_key = _pem("SANDBOX_INTASEND_DEVICE_PUBLIC_KEY")
        if not public_key and _env("INTASEND_DEVICE_PRIVATE_KEY"):
            # The app's own device, as if its public key had been given on the dashboard.
            public_key = public_key_of(_pem("INTASEND_DEVICE_PRIVATE_KEY"))
        if public_key:
            device_id = _env("SANDBOX_INTASEND_DEVICE_ID") or _env("INTASEND_DEVICE_ID") or "1"
            devices = ((device_id, public_key),)
        return cls(
            secret_key=_env("INTASEND_SECRET_KEY", "local-intasend-secret"),
            webhook_url=_env("SANDBOX_INTASEND_WEBHOOK_URL")
            or f"{app_url}/api/callbacks/intasend/payout/",
            challenge=_env("INTASEND_WEBHOOK_CHALLENGE", "local-intasend-challenge"),
            devices=devices,
            opening_balance=int(_number("SANDBOX_INTASEND_BALANCE", str(cls.opening_balance))),
            minimum=int(_number("SANDBOX_INTASEND_MIN_AMOUNT", str(cls.minimum))),
            maximum=int(_number("SANDBOX_INTASEND_MAX_AMOUNT", str(cls.maximum))),
        )


@dataclass(frozen=True)
class IntersendAccount:
    """The Intersend account (the seed's API): the app's key and secret, and the callback URL
    Intersend was given for payout news."""

    api_key: str = field(default="local-intersend-key", repr=False)
    api_secret: str = field(default="local-intersend-secret", repr=False)
    callback_url: str = "http://127.0.0.1:8000/api/callbacks/intersend/payout/"
    minimum: int = 10
    maximum: int = 250_000

    @classmethod
    def from_env(cls, app_url: str) -> "IntersendAccount":
        return cls(
            api_key=_env("INTERSEND_API_KEY", "local-intersend-key"),
            api_secret=_env("INTERSEND_API_SECRET", "local-intersend-secret"),
            callback_url=_env("SANDBOX_INTERSEND_CALLBACK_URL")
            or f"{app_url}/api/callbacks/intersend/payout/",
        )


@dataclass(frozen=True)
class Config:
    port: int = 8002
    db_path: Path = REPO_DIR / "var" / "sandbox.sqlite3"
    callback_delay: float = 1.0  # seconds before a callback leaves (a customer typing a PIN)
    threads: int = 8
    as_production: bool = False  # apply the rules Safaricom applies only in production
    daraja: DarajaAccount = field(default_factory=DarajaAccount)
    intasend: IntasendAccount = field(default_factory=IntasendAccount)
    intersend: IntersendAccount = field(default_factory=IntersendAccount)

    @classmethod
    def from_env(cls) -> "Config":
        var_dir = Path(_env("KAZI_VAR_DIR") or REPO_DIR / "var")
        app_url = (
            _env("SANDBOX_APP_URL") or _env("MPESA_CALLBACK_BASE_URL") or "http://127.0.0.1:8000"
        ).rstrip("/")
        return cls(
            port=int(_number("SANDBOX_PORT", "8002")),
            db_path=Path(_env("SANDBOX_DB_PATH") or var_dir / "sandbox.sqlite3"),
            callback_delay=float(_number("SANDBOX_CALLBACK_DELAY_SECONDS", "1", float)),
            threads=int(_number("SANDBOX_THREADS", "8")),
            as_production=_env("SANDBOX_AS_PRODUCTION").lower() in {"1", "true", "yes", "on"},
            daraja=DarajaAccount.from_env(),
            intasend=IntasendAccount.from_env(app_url),
            intersend=IntersendAccount.from_env(app_url),
        )
