# One Makefile; CI calls these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-base
PORT ?= 8080

.PHONY: install demo serve test lint format clean

install: $(STAMP)

# torch is pinned to the CPU build first: an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[transformers,dev]'
	# Hugging Face inference toolkit, to test the hf-dlc inference.py in-process. --no-deps:
	# its declared deps would downgrade numpy and pull librosa and friends; the handler needs
	# only these (and scipy, in the dev extra).
	$(BIN)/python -m pip install --quiet --no-deps sagemaker-huggingface-inference-toolkit==2.6.0 \
		sagemaker-inference==1.10.1 multi-model-server==1.1.11 'retrying>=1.3.3,<1.4'
	touch $@

demo: install
	$(BIN)/sagemaker-openai demo-model

serve: demo
	$(BIN)/sagemaker-openai serve --model demo --port $(PORT)

test: demo
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
