# Two commands do all set-up on a fresh Debian 12 machine with Python 3.11:
#   make run   - the main job (embedded Redis, worker and bot; local mode without a Discord token)
#   make test  - the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# FluidSynth renders the audio with the full General MIDI SoundFont FluidR3_GM (fluid-soundfont-gm);
# chromium runs the web page's browser tests; ffmpeg streams the clips into a voice channel (/breed listen).
SYSTEM_PACKAGES := fluidsynth fluid-soundfont-gm chromium ffmpeg

.PHONY: run test lint system venv clean

run: venv
	$(BIN)/breeder run

# Test processes: two per core, at most 8 (each starts its own Redis and loads the model once). Many tests wait
# on processes, sockets and the simulated Discord rather than on the CPU, so two a core keep the cores busy:
# on 2 cores the suite takes 4.7 min with 4 processes against 7.5 with 2. The slowest tests are named.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); w=$$((n * 2)); [ $$w -gt 8 ] && w=8; echo $$w)

test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

# ruff on everything; mypy --strict on the domain, the engine, the worker, the service and the store ([tool.mypy]).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

# System packages, installed only when missing.
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing (apt-get)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: system $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: apt-get install python3.11 python3.11-venv"; exit 1; }
	@test -x $(BIN)/python || { echo "Creating the virtualenv in $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[bot,engine,training,dev]'
	# Magenta pins TensorFlow 2.9 (no Python 3.11 wheel); its real needs are in the engine extra.
	$(BIN)/pip install -q --no-deps magenta==2.1.4
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
