# One Makefile; CI calls these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-base
PORT ?= 8080

.PHONY: install demo serve test lint format clean js-sdk

install: $(STAMP)

# torch is pinned to the CPU build first: an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# Hugging Face inference toolkit, to test the hf-dlc inference.py in-process. --no-deps:
	# its declared deps would downgrade numpy and pull librosa and friends; the handler needs
	# only these (and scipy, in the dev extra). Installed before this package, whose `serve`
	# script must be the one left on PATH (the toolkit ships a `serve` of its own).
	$(BIN)/python -m pip install --quiet --no-deps sagemaker-huggingface-inference-toolkit==2.6.0 \
		sagemaker-inference==1.10.1 multi-model-server==1.1.11 'retrying>=1.3.3,<1.4'
	$(BIN)/python -m pip install --quiet -e '.[transformers,dev]'
	touch $@

demo: install
	$(BIN)/sagemaker-openai demo-model

serve: demo
	$(BIN)/sagemaker-openai serve --model demo --port $(PORT)

# The AWS SDK for JavaScript v3, for the emulator's JS test (skipped there when node is absent).
js-sdk: tests/js/node_modules/.installed

tests/js/node_modules/.installed: tests/js/package-lock.json
	if command -v npm >/dev/null; then cd tests/js && npm ci --no-audit --no-fund && touch node_modules/.installed; fi

test: demo js-sdk
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
