# chatsynth: `make demo` installs everything (the embedded model too) and opens the app;
# `make test` installs the test tools, runs pyflakes, then the whole suite.  Both are idempotent and use
# a project-local virtual environment in .venv/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_TIKTOKEN := $(abspath ../shared/tiktoken-cache)
ifneq ($(wildcard $(SHARED_TIKTOKEN)),)
export TIKTOKEN_CACHE_DIR ?= $(SHARED_TIKTOKEN)
endif

# The suite runs its test files on one worker per core (at most 4; pytest-xdist), each file whole
# on one worker so a file's shared fixture (the embedded model's server) starts once.
# PYTEST_WORKERS= (empty) runs it in this one process.
PYTEST_WORKERS ?= -n auto --maxprocesses=4 --dist loadfile

.PHONY: demo test install bench bench-quick clean

install: $(STAMP)

# llama-cpp-python compiles from source the first time (about 5 minutes on 2 cores);
# pip's wheel cache keeps the result for every later install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chatsynth

test: $(STAMP)
	$(BIN)/python -m pyflakes synth tui tests bench
	tests/with-secret-service $(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache
