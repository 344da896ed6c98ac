"""`python -m stellar_service`: serves the API on 127.0.0.1:$STELLAR_PORT (settings: config.py)."""

import logging

import uvicorn

from stellar_service.app import create_app
from stellar_service.config import Config, ConfigError


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        raise SystemExit(f"stellar service: {exc}") from None  # a message, not a traceback
    logging.getLogger(__name__).info("starting with %r", config)  # repr hides the secrets
    uvicorn.run(create_app(config), host="127.0.0.1", port=config.port)


if __name__ == "__main__":
    main()
