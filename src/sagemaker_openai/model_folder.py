"""Which model to serve or package: a Hugging Face folder, checked at once, the demo model, or a
model on the Hugging Face Hub (hf://ORG/NAME[@REVISION]), fetched into the Hub cache."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

DEMO = "demo"
HUB_SCHEME = "hf://"
# Files a Hugging Face model folder must have: globs, any one of each.
WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZERS = ("tokenizer.json", "tokenizer.model")
# What a snapshot download fetches: config, safetensors weights, tokenizer and chat template
# (not .bin duplicates, ONNX or GGUF exports that many repositories also hold).
HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "tokenizer.model", "*.tiktoken", "*.txt"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelFolderError(ValueError):
    """The model given is not a usable model folder; the message says what is missing."""


@dataclass(frozen=True)
class ModelSource:
    """A checked model: its default served name, and how to get its folder."""

    name: str
    locate: Callable[[], Path]  # blocking: the demo model is converted, a Hub model fetched


@dataclass(frozen=True)
class HubModel:
    """hf://ORG/NAME[@REVISION]: a model repository on the Hugging Face Hub."""

    repo_id: str
    revision: str | None = None  # None: main

    @property
    def name(self) -> str:
        return self.repo_id.rpartition("/")[2]

    def __str__(self) -> str:
        return HUB_SCHEME + self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_hub_model(model: str) -> HubModel | None:
    """The Hub model named by `model`, None if it is not an hf:// URL; raises if malformed."""
    if not model.startswith(HUB_SCHEME):
        return None
    repo_id, _, revision = model.removeprefix(HUB_SCHEME).partition("@")
    repo_id = repo_id.rstrip("/")
    if not _REPO_ID.match(repo_id) or (revision == "" and "@" in model):
        raise ModelFolderError(f"{model} is not hf://ORG/NAME or hf://ORG/NAME@REVISION")
    return HubModel(repo_id, revision or None)


def resolve_model(model: str, cache_dir: Path) -> ModelSource:
    """`demo` means the bundled demo model (provisioned by `locate`); hf://ORG/NAME a Hub model
    (access checked now, fetched by `locate`); else a folder, checked now."""
    if model == DEMO:
        from .demo import DEMO_NAME, ensure_demo_model

        return ModelSource(DEMO_NAME, lambda: ensure_demo_model(cache_dir))
    hub = parse_hub_model(model)
    if hub is not None:
        check_hub_access(hub)
        return ModelSource(hub.name, lambda: fetch_hub_model(hub))
    path = Path(model).expanduser()
    check_model_dir(path)
    return ModelSource(path.name, lambda: path)


def djl_model_dir(properties: Mapping[str, str], cache_dir: Path) -> Path:
    """The folder the lmi handler serves: DJL's option.model_id where deploy set one (a local
    folder once DJL has synced an S3 prefix, else a Hub id with option.revision), otherwise the
    model_dir DJL passes (/opt/ml/model). djl-serving v0.36.0 wlm/.../ModelInfo.java syncs s3://
    ids itself and leaves Hub ids to the Python process."""
    model_id = properties.get("model_id")
    if not model_id:
        return Path(properties.get("model_dir", "/opt/ml/model"))
    if Path(model_id).is_dir():
        return Path(model_id)
    revision = properties.get("revision")
    hub = HubModel(model_id, revision or None)
    return resolve_model(str(hub), cache_dir).locate()


def check_hub_access(hub: HubModel) -> None:
    """Fail now, in one line, where the model cannot be had: missing, gated, or (with
    HF_HUB_OFFLINE=1) not in the Hub cache. HF_TOKEN, HF_HOME and HF_HUB_OFFLINE are read by
    huggingface_hub itself."""
    hf = _hub()
    with _hub_errors(hub):
        if hf.constants.HF_HUB_OFFLINE:
            _download(hub, local_only=True)
        else:
            hf.HfApi().auth_check(hub.repo_id)


def fetch_hub_model(hub: HubModel) -> Path:
    """The model's snapshot folder in the Hub cache, downloaded unless already there."""
    with _hub_errors(hub):
        path = _download(hub, local_only=_hub().constants.HF_HUB_OFFLINE)
    check_model_dir(path)
    return path


def _download(hub: HubModel, local_only: bool) -> Path:
    folder = _hub().snapshot_download(
        hub.repo_id, revision=hub.revision, allow_patterns=HUB_FILES, local_files_only=local_only
    )
    return Path(str(folder))


def _hub() -> ModuleType:
    try:
        import huggingface_hub
        import huggingface_hub.constants
    except ImportError:
        raise ModelFolderError(
            "hf:// models need huggingface_hub (pip install 'sagemaker-openai[transformers]')"
        ) from None
    return huggingface_hub


@contextmanager
def _hub_errors(hub: HubModel) -> Iterator[None]:
    """huggingface_hub's errors as one-line ModelFolderErrors."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GatedRepoError:  # a RepositoryNotFoundError too: first
        raise ModelFolderError(
            f"{hub} is gated: accept its terms on huggingface.co and set HF_TOKEN to a token "
            "of that account"
        ) from None
    except RepositoryNotFoundError:
        raise ModelFolderError(
            f"{hub} does not exist on the Hugging Face Hub (or is private: set HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise ModelFolderError(f"{hub}: no revision {hub.revision!r} on the Hub") from None
    except LocalEntryNotFoundError:
        raise ModelFolderError(
            f"{hub} is not in the Hugging Face cache (HF_HOME) and cannot be downloaded "
            "(HF_HUB_OFFLINE=1, or no network)"
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelFolderError(f"{hub} could not be fetched: {_first_line(e)}") from None
    except Exception as e:  # the HTTP client's own (httpx's ConnectError is not an OSError)
        raise ModelFolderError(f"{hub} could not be fetched: {_first_line(e)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


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
