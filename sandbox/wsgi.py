"""`sandbox.wsgi:application`, served by gunicorn (`python -m sandbox`): the sandbox with its
state in SANDBOX_DB_PATH, callbacks sent and the providers' later steps taken from a background
thread after SANDBOX_CALLBACK_DELAY_SECONDS. Deliveries left waiting and steps left under way by a
previous run go again."""

import logging

from sandbox import build
from sandbox.config import Config
from sandbox.deliver import Background

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
config = Config.from_env()
application = build(config, scheduler=Background(config.callback_delay))
if resumed := application.deliveries.resume():
    logging.getLogger("sandbox").info("resuming %d callback(s) left waiting", resumed)
