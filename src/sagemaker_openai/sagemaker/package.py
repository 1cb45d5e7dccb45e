"""model.tar.gz per packaging target: what SageMaker unpacks into /opt/ml/model.

- image:  the model folder alone, for this project's own container (docker/Dockerfile).
- hf-dlc: the model folder plus code/inference.py, code/requirements.txt and a wheel of this
          package, for the Hugging Face inference toolkit (which cannot stream).
- lmi:    the model folder plus serving.properties, model.py, requirements.txt and the wheel,
          for DJL Serving's Python engine (streams JSON lines).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from ..model_folder import ModelFolderError, check_model_dir, resolve_model
from .errors import InvalidInput
from .images import TARGETS
from .wheel import build_wheel

SAGEMAKER_MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks model.tar.gz in the container
SERVED_NAME_PLACEHOLDER = '"__SERVED_MODEL_NAME__"'


def resolve_model_dir(model: str, cache_dir: Path) -> Path:
    """model_folder.resolve_model, its error as the deploy commands report it."""
    try:
        return resolve_model(model, cache_dir).locate()
    except ModelFolderError as exc:
        raise InvalidInput("--model", str(exc)) from None


def build_package(model_dir: Path, target: str, out: Path, served_name: str) -> Path:
    """Write the model.tar.gz for `target` to `out` and return `out`."""
    if target not in TARGETS:
        raise InvalidInput("--target", f"must be one of {', '.join(TARGETS)}, not {target!r}")
    try:
        check_model_dir(model_dir)
    except ModelFolderError as exc:
        raise InvalidInput("--model", str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smoai-package-") as tmp:
        extra = _extra_files(target, Path(tmp), served_name)
        partial = out.with_name(out.name + ".partial")
        # Level 1: weights barely compress, and level 9 costs minutes on multi-GB models.
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            for path in sorted(model_dir.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    tar.add(path, arcname=path.relative_to(model_dir).as_posix())
            for arcname, path in extra.items():
                tar.add(path, arcname=arcname)
        partial.replace(out)  # never leave a half-written tarball under the final name
    return out


def _extra_files(target: str, tmp: Path, served_name: str) -> dict[str, Path]:
    """arcname -> file for what a target adds beside the model."""
    if target == "image":
        return {}
    wheel = build_wheel(tmp)
    if target == "hf-dlc":
        script = _render("hf_inference.py", served_name, tmp / "inference.py")
        reqs = _write(tmp / "requirements.txt", f"{SAGEMAKER_MODEL_DIR}/code/{wheel.name}\n")
        return {
            "code/inference.py": script,
            "code/requirements.txt": reqs,
            f"code/{wheel.name}": wheel,
        }
    script = _render("lmi_model.py", served_name, tmp / "model.py")
    props = _write(tmp / "serving.properties", _template("serving.properties"))
    reqs = _write(tmp / "requirements.txt", f"{SAGEMAKER_MODEL_DIR}/{wheel.name}\n")
    return {
        "model.py": script,
        "serving.properties": props,
        "requirements.txt": reqs,
        wheel.name: wheel,
    }


def _template(name: str) -> str:
    return (resources.files("sagemaker_openai.sagemaker") / "templates" / name).read_text()


def _render(name: str, served_name: str, dest: Path) -> Path:
    text = _template(name)
    if SERVED_NAME_PLACEHOLDER not in text:
        raise RuntimeError(f"template {name} lacks the served model name placeholder")
    return _write(dest, text.replace(SERVED_NAME_PLACEHOLDER, json.dumps(served_name)))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
