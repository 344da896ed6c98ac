"""The sandbox's settings, from the environment only. It plays the providers, so it knows the
credentials they issued to the app: the same variables the app reads (MPESA_CONSUMER_KEY, ...),
with the same embedded defaults, so `make run` needs no configuration on either side."""

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


@dataclass(frozen=True)
class Config:
    port: int = 8002
    db_path: Path = REPO_DIR / "var" / "sandbox.sqlite3"
    callback_delay: float = 1.0  # seconds before a callback leaves (a customer typing a PIN)
    threads: int = 8
    as_production: bool = False  # apply the rules Safaricom applies only in production
    daraja: DarajaAccount = field(default_factory=DarajaAccount)

    @classmethod
    def from_env(cls) -> "Config":
        var_dir = Path(_env("KAZI_VAR_DIR") or REPO_DIR / "var")
        return cls(
            port=int(_number("SANDBOX_PORT", "8002")),
            db_path=Path(_env("SANDBOX_DB_PATH") or var_dir / "sandbox.sqlite3"),
            callback_delay=float(_number("SANDBOX_CALLBACK_DELAY_SECONDS", "1", float)),
            threads=int(_number("SANDBOX_THREADS", "8")),
            as_production=_env("SANDBOX_AS_PRODUCTION").lower() in {"1", "true", "yes", "on"},
            daraja=DarajaAccount.from_env(),
        )
