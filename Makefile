# Two commands on a fresh clone: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Every Python dependency, dev and build included, pinned with hashes (regenerate: make lock).
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
# Swagger UI assets for /schema, from the npm lock, served by the hub itself (no CDN).
UI     := hub/static/swagger-ui
UI_STAMP := $(UI)/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)
# The pages' bundles (hub/web -> hub/static/app), rebuilt when a source changes.
APP    := hub/static/app
PAGES  := $(wildcard hub/web/pages/*.page.js)
WEB    := $(shell find hub/web -type f \( -name '*.js' -o -name '*.css' \) -not -path '*/test/*')

.PHONY: run test lint docs bench load soak lock ui clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(UI_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(UI) && mkdir -p $(UI)
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js \
	   node_modules/swagger-ui-dist/swagger-ui.css \
	   node_modules/swagger-ui-dist/LICENSE $(UI)/
	touch $(UI_STAMP)

$(APP)/.built: $(UI_STAMP) $(WEB)
	rm -rf $(APP)
	node_modules/.bin/esbuild $(PAGES) --bundle --format=esm --minify --sourcemap --splitting \
	  --target=es2022 --entry-names=[name] --chunk-names=chunks/[name]-[hash] --outdir=$(APP) \
	  --log-level=warning
	touch $@

ui: $(UI_STAMP) $(APP)/.built

run: $(STAMP) ui
	$(BIN)/python -m hub run

lint: $(STAMP) $(UI_STAMP)
	$(BIN)/ruff check hub rooms persistence integrations tests loadtests
	$(BIN)/mypy
	$(BIN)/lint-imports
	node_modules/.bin/tsc -p hub/web/client/tsconfig.json --noEmit --allowJs --checkJs

test: lint ui
	$(BIN)/python -m pytest -q

docs: $(STAMP)
	$(BIN)/python -m hub.protocol_doc

# The full fan-out matrix (~10 min); BENCH_ARGS=--quick for a smoke run. See loadtests/README.md.
bench: $(STAMP)
	$(BIN)/python -m loadtests.fanout $(BENCH_ARGS)

# Locust against a hub it starts (Redis, Postgres: see loadtests/README.md); stops by itself.
USERS    ?= 1000
DURATION ?= 60s
LOAD_ARGS ?=
load: $(STAMP)
	$(BIN)/python -m loadtests.load --users $(USERS) --duration $(DURATION) $(LOAD_ARGS)

# The same users for SOAK_DURATION, sampling hub RSS and fds, Redis memory, Postgres
# connections, connections held and deliveries/s every 10 s; exits 1 unless each stays flat.
SOAK_USERS    ?= 800
SOAK_DURATION ?= 30m
SOAK_ARGS     ?=
soak: $(STAMP)
	$(BIN)/python -m loadtests.load --soak --users $(SOAK_USERS) --users-per-room 200 \
	  --duration $(SOAK_DURATION) $(SOAK_ARGS)

# Maintainers, after editing dependencies in pyproject.toml (needs uv on PATH).
lock:
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  | uv pip compile pyproject.toml - --extra dev --universal --python-version 3.11 \
	      --generate-hashes --quiet -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache node_modules $(UI) $(APP)
