"""Settings come from the environment; secrets never show; production refuses the defaults."""

from pathlib import Path

import pytest
from stellar_sdk import Keypair

from stellar_service.config import (
    DEFAULT_API_KEY,
    LOCAL_FUNDER_ACCOUNT,
    REPO_DIR,
    Config,
    ConfigError,
)

OPERATOR = Keypair.random()
ARBITER = Keypair.random()
CONTRACT = "CDLZFC3SYJYDZT7K67VZ75HPJVIEUVNIXF47ZG2FB2RMQQVU2HHGCYSC"
VARIABLES = (
    "KAZI_ENV", "KAZI_VAR_DIR", "STELLAR_CONTRACT_API_KEY", "STELLAR_BACKEND", "STELLAR_SERVICE_DB",
    "STELLAR_PORT", "STELLAR_RPC_URL", "STELLAR_NETWORK_PASSPHRASE", "STELLAR_CONTRACT_ADDRESS",
    "STELLAR_OPERATOR_SECRET", "STELLAR_ARBITER_SECRET", "STELLAR_FUNDER_ACCOUNT",
    "STELLAR_MAX_FEE", "STELLAR_LOCAL_FEE_BPS", "STELLAR_LOCAL_FEE_ACCOUNT", "STELLAR_CHANNELS",
    "STELLAR_CHANNEL_SECRETS", "STELLAR_FEE_ACCOUNT_SECRET", "STELLAR_LOW_BALANCE_XLM",
)  # fmt: skip
CHANNELS = [Keypair.random() for _ in range(3)]
FEE_ACCOUNT = Keypair.random()
SOROBAN = {
    "STELLAR_BACKEND": "soroban",
    "STELLAR_CONTRACT_API_KEY": "a-real-key",
    "STELLAR_RPC_URL": "https://rpc.example",
    "STELLAR_CONTRACT_ADDRESS": CONTRACT,
    "STELLAR_OPERATOR_SECRET": OPERATOR.secret,
    "STELLAR_ARBITER_SECRET": ARBITER.secret,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> Config:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return Config.from_env()

    return set_env


def test_embedded_defaults(env) -> None:
    config = env()
    assert config.api_key == DEFAULT_API_KEY
    assert (config.backend, config.port, config.production) == ("local", 8001, False)
    assert config.db_path == REPO_DIR / "var" / "stellar-service.sqlite3"
    assert config.funder_account == LOCAL_FUNDER_ACCOUNT


def test_var_dir_and_explicit_db(env, tmp_path: Path) -> None:
    assert env(KAZI_VAR_DIR=str(tmp_path)).db_path == tmp_path / "stellar-service.sqlite3"
    assert env(STELLAR_SERVICE_DB=str(tmp_path / "x.db")).db_path == tmp_path / "x.db"


def test_soroban_settings_and_the_funder_defaults_to_the_operator(env) -> None:
    config = env(**SOROBAN, STELLAR_MAX_FEE="250000", STELLAR_PORT="9001")
    assert config.funder_account == OPERATOR.public_key
    assert (config.max_fee, config.port, config.contract_address) == (250_000, 9001, CONTRACT)
    funder = Keypair.random().public_key
    assert env(**SOROBAN, STELLAR_FUNDER_ACCOUNT=funder).funder_account == funder


def test_channels_the_fee_account_and_the_low_balance_threshold(env) -> None:
    default = env(**SOROBAN)
    assert (default.channel_secrets, default.fee_account_secret) == ((), "")
    assert default.low_balance == 5 * 10**7  # STELLAR_LOW_BALANCE_XLM=5
    secrets = ", ".join(channel.secret for channel in CHANNELS)
    config = env(
        **SOROBAN,
        STELLAR_CHANNEL_SECRETS=secrets,
        STELLAR_CHANNELS="2",
        STELLAR_FEE_ACCOUNT_SECRET=FEE_ACCOUNT.secret,
        STELLAR_LOW_BALANCE_XLM="2.5",
    )
    assert config.channel_secrets == (CHANNELS[0].secret, CHANNELS[1].secret)  # the first N
    assert (config.fee_account_secret, config.low_balance) == (FEE_ACCOUNT.secret, 25_000_000)


def test_repr_hides_every_secret(env) -> None:
    config = env(
        **SOROBAN,
        STELLAR_CHANNEL_SECRETS=",".join(channel.secret for channel in CHANNELS),
        STELLAR_CHANNELS="3",
        STELLAR_FEE_ACCOUNT_SECRET=FEE_ACCOUNT.secret,
    )
    shown = repr(config) + str(config)
    channel_secrets = (channel.secret for channel in CHANNELS)
    for secret in (
        OPERATOR.secret,
        ARBITER.secret,
        "a-real-key",
        FEE_ACCOUNT.secret,
        *channel_secrets,
    ):
        assert secret not in shown
    assert CONTRACT in shown


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"KAZI_ENV": "production"}, "must be set"),
        ({"KAZI_ENV": "production", "STELLAR_CONTRACT_API_KEY": DEFAULT_API_KEY}, "refuses"),
        ({"STELLAR_BACKEND": "soroban"}, "must be set"),
        ({"STELLAR_BACKEND": "ethereum"}, "STELLAR_BACKEND"),
        ({**SOROBAN, "STELLAR_RPC_URL": ""}, "STELLAR_RPC_URL"),
        ({**SOROBAN, "STELLAR_CONTRACT_ADDRESS": OPERATOR.public_key}, "STELLAR_CONTRACT_ADDRESS"),
        ({**SOROBAN, "STELLAR_OPERATOR_SECRET": ""}, "STELLAR_OPERATOR_SECRET"),
        ({**SOROBAN, "STELLAR_OPERATOR_SECRET": OPERATOR.public_key}, "STELLAR_OPERATOR_SECRET"),
        ({"STELLAR_FUNDER_ACCOUNT": "GNOPE"}, "STELLAR_FUNDER_ACCOUNT"),
        ({"STELLAR_PORT": "eighty"}, "STELLAR_PORT"),
        ({"STELLAR_PORT": "70000"}, "STELLAR_PORT"),
        ({"STELLAR_MAX_FEE": "0"}, "STELLAR_MAX_FEE"),
        ({"STELLAR_CHANNEL_SECRETS": OPERATOR.secret}, "STELLAR_CHANNELS must be 1 to the 1"),
        (
            {"STELLAR_CHANNEL_SECRETS": f"{OPERATOR.secret},S", "STELLAR_CHANNELS": "2"},
            "STELLAR_CHANNEL_SECRETS is not a valid secret seed",
        ),
        ({"STELLAR_FEE_ACCOUNT_SECRET": OPERATOR.public_key}, "STELLAR_FEE_ACCOUNT_SECRET"),
        ({"STELLAR_LOW_BALANCE_XLM": "lots"}, "STELLAR_LOW_BALANCE_XLM"),
        ({"STELLAR_LOW_BALANCE_XLM": "0.00000001"}, "STELLAR_LOW_BALANCE_XLM"),
    ],
)
def test_bad_settings_are_refused(env, values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        env(**values)
    assert OPERATOR.secret not in str(err.value)


def test_production_accepts_a_real_key(env) -> None:
    config = env(KAZI_ENV="production", STELLAR_CONTRACT_API_KEY="long-random-key")
    assert (config.production, config.api_key) == (True, "long-random-key")
