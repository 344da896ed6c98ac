# Kazi Trust. `make run` serves the API on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
PORT ?= 8000
export STELLAR_PORT ?= 8001
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format demo pay bench migrate clean stellar-service

$(STAMP): requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# The web process and the Stellar contract service (local backend) side by side; Ctrl-C stops both.
run: migrate
	@trap 'kill 0' EXIT; \
	$(PY) -m stellar_service & \
	STELLAR_CONTRACT_SERVICE_URL=http://127.0.0.1:$(STELLAR_PORT) \
	  $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The Stellar contract service (settings from the environment: stellar_service/config.py).
stellar-service: $(STAMP)
	STELLAR_PORT=$${STELLAR_PORT:-8001} $(PY) -m stellar_service

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: $(STAMP)
	$(PY) scripts/demo.py --base-url http://127.0.0.1:$(PORT)

# Benchmarks (not tests): set DATABASE_URL to measure on PostgreSQL as in production.
bench: $(STAMP)
	KAZI_VAR_DIR=$${KAZI_VAR_DIR:-var/bench} $(PY) scripts/bench.py callbacks
	KAZI_VAR_DIR=$${KAZI_VAR_DIR:-var/bench} $(PY) scripts/bench.py ussd --concurrency 4
	$(PY) scripts/bench.py stellar --requests 2000 --concurrency 8

# Pay an escrow by Pay Bill against the running server: make pay REF=ESCROW_XXXXXXXX AMOUNT=1500
pay: $(STAMP)
	$(PY) manage.py mpesa_pay "$(REF)" "$(AMOUNT)" --base-url http://127.0.0.1:$(PORT)

clean:
	rm -rf $(VENV) var
