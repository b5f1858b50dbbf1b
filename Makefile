# The two commands a newcomer needs, on a fresh Debian 12 machine as root:
#   make demo   set everything up, then walk through seabox
#   make demo-stop   stop the daemons the demo started and remove what it created
#   make test   set everything up, then run the whole suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export SEABOX_FIXTURES ?= /var/lib/seabox-fixtures

.PHONY: demo demo-stop test setup registries registries-stop fixtures lint pytest bench clean

demo: setup registries fixtures
	@echo "==> demo"
	@bash scripts/demo.sh

demo-stop:
	@echo "==> demo-stop"
	@bash scripts/demo-stop.sh

test: setup registries fixtures lint pytest

setup:
	@echo "==> setup (apt packages, venv)"
	@bash scripts/setup.sh

registries: setup
	@echo "==> local registries on 127.0.0.1"
	@bash scripts/registries.sh start

registries-stop:
	@bash scripts/registries.sh stop

fixtures: registries
	@echo "==> fixture images (cached by recipe hash)"
	@$(PY) tools/fixtures.py build

lint: setup
	@echo "==> ruff"
	@$(VENV)/bin/ruff check src tests tools bench
	@echo "==> mypy"
	@$(VENV)/bin/mypy

pytest: setup
	@echo "==> pytest"
	@$(VENV)/bin/pytest -p no:cacheprovider tests

bench: setup registries fixtures
	@$(PY) -m bench.run $(BENCH)

clean:
	rm -rf $(VENV) build src/*.egg-info
