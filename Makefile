# Two commands on a fresh clone: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m hub run

lint: $(STAMP)
	$(BIN)/ruff check hub rooms persistence integrations tests loadtests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

docs: $(STAMP)
	$(BIN)/python -m hub.protocol_doc

bench: $(STAMP)
	$(BIN)/python loadtests/fanout.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
