"""Which model to serve or package: a Hugging Face folder, checked at once, or the demo model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEMO = "demo"
# Files a Hugging Face model folder must have: globs, any one of each.
WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZERS = ("tokenizer.json", "tokenizer.model")


class ModelFolderError(ValueError):
    """The model given is not a usable model folder; the message says what is missing."""


@dataclass(frozen=True)
class ModelSource:
    """A checked model: its default served name, and how to get its folder."""

    name: str
    locate: Callable[[], Path]  # blocking: the demo model is converted on first use


def resolve_model(model: str, cache_dir: Path) -> ModelSource:
    """`demo` means the bundled demo model (provisioned by `locate`); else a folder, checked now."""
    if model == DEMO:
        from .demo import DEMO_NAME, ensure_demo_model

        return ModelSource(DEMO_NAME, lambda: ensure_demo_model(cache_dir))
    path = Path(model).expanduser()
    check_model_dir(path)
    return ModelSource(path.name, lambda: path)


def check_model_dir(path: Path) -> None:
    """Raise ModelFolderError unless `path` holds a config, weights and a tokenizer."""
    if not path.is_dir():
        raise ModelFolderError(f"{path} is not a model folder (no such folder)")
    if not (path / "config.json").is_file():
        raise ModelFolderError(f"{path} is not a model folder (no config.json)")
    if not any(next(path.glob(g), None) for g in WEIGHTS):
        raise ModelFolderError(f"{path} is not a model folder (no weights: {' or '.join(WEIGHTS)})")
    if not any((path / t).is_file() for t in TOKENIZERS):
        raise ModelFolderError(
            f"{path} is not a model folder (no tokenizer: {' or '.join(TOKENIZERS)})"
        )
