# Kazi Trust. `make run` serves the API on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
PORT ?= 8000
export STELLAR_PORT ?= 8001
export SANDBOX_PORT ?= 8002
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run dev test lint format demo pay bench migrate clean stellar-service sandbox messages

# Translations: locale/*/LC_MESSAGES/django.po are in the repo; their .mo are built here (Babel,
# no system gettext needed). `make messages` extracts new strings (Django's makemessages, which
# needs GNU gettext); translate them in the .po, and `make` compiles the rest.
PO := $(wildcard locale/*/LC_MESSAGES/django.po)
MO := $(PO:.po=.mo)
%.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -D django -i $< -o $@

messages: $(STAMP)
	$(PY) manage.py makemessages --all --no-obsolete --add-location=file \
	  --ignore=.venv --ignore=var --ignore=contracts --ignore='tests/*'

$(STAMP): requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# The embedded default's processes side by side (scripts/run.py): the sandbox (Daraja's stand-in,
# our C2B URLs registered with it), the Stellar contract service (local backend), the API under
# gunicorn, and the periodic runner (CELERY_BEAT_SCHEDULE in-process). It migrates first; Ctrl-C
# stops them all. `make dev`: the same with Django's auto-reloading runserver as the web process.
run: $(STAMP) $(MO)
	@PORT=$(PORT) $(PY) scripts/run.py

dev: $(STAMP) $(MO)
	@PORT=$(PORT) $(PY) scripts/run.py --dev

# The Stellar contract service (settings from the environment: stellar_service/config.py).
stellar-service: $(STAMP)
	STELLAR_PORT=$${STELLAR_PORT:-8001} $(PY) -m stellar_service

# The sandbox alone (settings from the environment: sandbox/config.py).
sandbox: $(STAMP)
	$(PY) -m sandbox

test: $(STAMP) $(MO) contract-test
	$(PY) -m pytest

# The Soroban pieces: one Cargo workspace (contracts/: the escrow contract and the local network),
# one Cargo.lock, one target dir (contracts/target). The contract's wasm is built by Debian's Rust
# (rustc-web, cargo-web, rust-web-src, lld-22) into its own contracts/target/wasm: rustup cannot
# add the wasm32v1-none target here. Native tests and the local network use whichever cargo comes
# first on PATH, in the dev profile, so the Soroban host crates compile once for both.
CONTRACTS := contracts
CONTRACT_WASM := $(CONTRACTS)/target/wasm/wasm32v1-none/release/kazi_escrow.wasm
LOCALNET_BIN := $(CONTRACTS)/target/debug/kazi-localnet
export LOCALNET_PORT ?= 8010
LEDGER_CLOSE_MS ?= 5000
CARGO_JOBS ?= 2
WASM_LD := /usr/lib/llvm-22/bin/wasm-ld
HAS_WASM_RUST = /usr/bin/rustc --print target-list 2>/dev/null | grep -qx wasm32v1-none
.PHONY: contract contract-test contract-costs localnet localnet-build run-soroban

contract:
	@$(HAS_WASM_RUST) || { echo "make contract: cannot build the wasm: /usr/bin/rustc with the wasm32v1-none target (Debian's rustc-web >= 1.91) is missing; apt-get install rustc-web cargo-web rust-web-src lld-22"; exit 1; }
	@[ -d /usr/lib/rustlib/src/rust/library ] || { echo "make contract: cannot build the wasm: Debian's Rust library source for -Zbuild-std is missing (/usr/lib/rustlib/src/rust/library); apt-get install rust-web-src"; exit 1; }
	@[ -x $(WASM_LD) ] || { echo "make contract: cannot build the wasm: the linker $(WASM_LD) is missing (Debian's rustc has no rust-lld of its own); apt-get install lld-22"; exit 1; }
	cd $(CONTRACTS) && PATH=/usr/bin:$$PATH RUSTC_BOOTSTRAP=1 \
	  CARGO_TARGET_WASM32V1_NONE_LINKER=$(WASM_LD) \
	  CARGO_TARGET_WASM32V1_NONE_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
	  cargo build -j$(CARGO_JOBS) -p kazi-escrow --release --target wasm32v1-none \
	  -Zbuild-std=core,alloc --target-dir target/wasm
	@echo "wasm: $(CONTRACT_WASM) ($$(stat -c %s $(CONTRACT_WASM)) bytes)"

# The workspace's tests (the contract's and the local network's). Builds the wasm first when
# Debian's Rust is here (and then requires the wasm tests to run).
contract-test:
	@if $(HAS_WASM_RUST); then \
	  $(MAKE) --no-print-directory contract && \
	  cd $(CONTRACTS) && KAZI_REQUIRE_WASM=1 cargo test -j$(CARGO_JOBS) --workspace; \
	else \
	  echo "contract-test: Debian's Rust (/usr/bin/rustc with wasm32v1-none) is absent: native tests only; the wasm tests are skipped"; \
	  cd $(CONTRACTS) && cargo test -j$(CARGO_JOBS) --workspace; \
	fi

# CPU, memory, ledger reads/writes and the fee of every entry point (the wasm when it can be built).
contract-costs:
	@if $(HAS_WASM_RUST); then $(MAKE) --no-print-directory contract; fi
	cd $(CONTRACTS) && cargo test -j$(CARGO_JOBS) --quiet -p kazi-escrow --lib cost_report -- --ignored --nocapture

# The local Stellar network (contracts/localnet): built with the workspace's tests (same
# features, same profile: nothing compiles twice), then run on 127.0.0.1:$(LOCALNET_PORT), its
# ledger in $(KAZI_VAR_DIR)/localnet (a restart keeps it).
localnet-build:
	cd $(CONTRACTS) && cargo test -j$(CARGO_JOBS) --workspace --no-run --quiet

localnet: localnet-build
	$(LOCALNET_BIN) --port $(LOCALNET_PORT) --ledger-close-ms $(LEDGER_CLOSE_MS) \
	  --state-dir $${KAZI_VAR_DIR:-var}/localnet

# `make run` on the local network: the local network, the contract deployed on it (once per
# ledger: kept in $(KAZI_VAR_DIR)/localnet), the Stellar service with STELLAR_BACKEND=soroban.
run-soroban: $(STAMP) $(MO) localnet-build
	@if [ ! -f $(CONTRACT_WASM) ]; then $(MAKE) --no-print-directory contract; fi
	@PORT=$(PORT) LEDGER_CLOSE_MS=$(LEDGER_CLOSE_MS) $(PY) scripts/run.py --soroban

# ruff, and the layers (DESIGN §12): import-linter's contracts in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: $(STAMP)
	$(PY) scripts/demo.py --base-url http://127.0.0.1:$(PORT) --sandbox-url http://127.0.0.1:$(SANDBOX_PORT)

# Benchmarks (not tests): set DATABASE_URL to measure on PostgreSQL as in production.
bench: $(STAMP)
	KAZI_VAR_DIR=$${KAZI_VAR_DIR:-var/bench} $(PY) scripts/bench.py callbacks
	KAZI_VAR_DIR=$${KAZI_VAR_DIR:-var/bench} $(PY) scripts/bench.py ussd --concurrency 4
	$(PY) scripts/bench.py stellar --requests 2000 --concurrency 8
	$(PY) scripts/bench.py payouts --jobs 10
	$(PY) scripts/bench.py pages --requests 200
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then $(PY) scripts/bench.py http; else echo "bench http: skipped: needs DATABASE_URL (PostgreSQL) and REDIS_URL set"; fi
	@if [ -x $(LOCALNET_BIN) ]; then \
	  $(PY) scripts/bench.py chain --lifecycles 200 --channels 1,4,16 --ledger-close-ms 1000; \
	else echo "bench chain: no local network ($(LOCALNET_BIN)): make localnet-build"; fi

# A customer pays an escrow by Pay Bill, through the running sandbox (which calls our registered
# validation and confirmation URLs): make pay REF=ESCROW_XXXXXXXX AMOUNT=1500 [PHONE=2547...]
pay: $(STAMP)
	$(PY) -m sandbox --url http://127.0.0.1:$(SANDBOX_PORT) pay-bill "$(REF)" "$(AMOUNT)" \
	  $(if $(PHONE),--phone "$(PHONE)")

clean:
	rm -rf $(VENV) var
