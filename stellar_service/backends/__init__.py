"""Backends implement `base.Backend`: `local` (the contract's rules over SQLite, the embedded
default) and `soroban` (the deployed contract through a Stellar RPC server)."""

from stellar_service.backends.base import Backend
from stellar_service.config import Config


def build_backend(config: Config) -> Backend:
    if config.backend == "soroban":
        from stellar_service.backends.soroban import SorobanBackend

        return SorobanBackend(config)
    from stellar_service.backends.local import LocalBackend

    return LocalBackend(
        config.db_path,
        funder=config.funder_account,
        fee_bps=config.local_fee_bps,
        fee_account=config.local_fee_account,
    )
