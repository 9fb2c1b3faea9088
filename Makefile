# trainboard: `make run` installs into .venv and starts the service; `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[server,worker]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[server,worker,test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/trainboard up

# Two halves at once, as they share nothing: the real-process and browser tests (and those on
# Redis, whose database numbers the e2e test shares) mostly wait on their processes, while the
# rest keep the other core busy. The second half's log is printed after the first half ends.
test: $(VENV)/.installed-test
	@mkdir -p test-output
	@{ $(BIN)/python -m pytest -m "not e2e and not redis" >test-output/unit.log 2>&1; echo $$? >test-output/unit.rc; } & \
	$(BIN)/python -m pytest -m "e2e or redis"; e2e=$$?; wait; \
	echo; echo "--- tests without real processes (test-output/unit.log) ---"; cat test-output/unit.log; \
	unit=$$(cat test-output/unit.rc); echo "e2e and redis: exit $$e2e; the rest: exit $$unit"; \
	[ $$e2e -eq 0 ] && [ $$unit -eq 0 ]

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
