# trainboard: `make run` installs into .venv and starts the service; `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[worker]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[worker,test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/trainboard up

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check trainboard backend worker tests bench examples

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.ingestion
	$(BIN)/python -m bench.live_latency
	$(BIN)/python -m bench.launch_latency
	$(BIN)/python -m bench.engine_speed
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) trainboard-data test-output
