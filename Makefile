# `make run` installs and serves the API on SQLite with the sample catalog;
# `make test` installs and runs every check.  Both start from a bare machine
# with Python 3.11+: uv comes from PyPI into .tools/, packages from uv.lock.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8080

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: install run test lint docs bench bench-compare bench-import bench-inventory bench-reliability clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run --frozen masstock devices import --sample
	$(UV) run --frozen masstock serve --host $(HOST) --port $(PORT)

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

test: lint
	$(UV) run --frozen pytest

# The settings table of docs/operations.md, written again from the settings model.
docs: install
	$(UV) run --frozen masstock settings --write docs/operations.md

bench: install
	$(UV) run --frozen python -m bench.performance $(ARGS)

bench-compare: install
	$(UV) run --frozen python bench/compare.py $(ARGS)

bench-import: install
	$(UV) run --frozen python bench/import_catalog.py $(ARGS)

bench-inventory: install
	$(UV) run --frozen python bench/inventory_lookups.py $(ARGS)

bench-reliability: install
	$(UV) run --frozen python bench/reliability.py $(ARGS)

clean:
	rm -rf .tools .venv .pytest_cache .mypy_cache .ruff_cache .bench
