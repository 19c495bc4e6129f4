# Passage: the two commands of the Quick start are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test setup system-deps lint typecheck imports unit migrate demo catalogues clean supply-chain

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

migrate: setup
	@$(BIN)/passage db upgrade

demo: migrate
	@$(BIN)/passage demo load

run: demo
	@echo ""
	@echo "Passage is starting on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/api/v1/docs)"
	@echo ""
	@$(BIN)/passage serve --host $(HOST) --port $(PORT)

lint: setup
	@$(BIN)/ruff check src tests bench migrations scripts

typecheck: setup
	@$(BIN)/mypy

imports: setup
	@$(BIN)/lint-imports

unit: setup system-deps
	@$(BIN)/pytest $(PYTEST_ARGS)

supply-chain: setup
	@$(BIN)/python scripts/supply_chain.py

test: setup system-deps
	@$(BIN)/ruff check src tests bench migrations scripts
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/python scripts/supply_chain.py
	@$(BIN)/pytest -n 2 --dist loadfile --timeout 900 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
