"""What SageMaker unpacks into /opt/ml/model, per packaging target, as a tarball or as files.

- image:  the model folder alone, for this project's own container (docker/Dockerfile.gpu or .cpu).
- hf-dlc: the model folder plus code/inference.py, code/requirements.txt and a wheel of this
          package, for the Hugging Face inference toolkit (which cannot stream).
- lmi:    the model folder plus serving.properties, model.py, requirements.txt and the wheel,
          for DJL Serving's Python engine (streams JSON lines).
hf-dlc and lmi also carry wheels/ with the wheel's dependencies when given a wheelhouse, and
requirements.txt then installs with --no-index: no network at container start.

Files and folders whose names start with a dot (.git, .cache/huggingface/token) are left out.
Links are followed, so the package holds the files themselves; a link may point anywhere inside
the model folder or, for a Hugging Face cache snapshot (models--ORG--NAME/snapshots/REV), inside
that model's cache folder, whose blobs/ the snapshot links into. A link pointing elsewhere is
refused: it would upload a file from outside what the user named.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..model_folder import ModelFolderError, check_model_dir, resolve_model
from .errors import InvalidInput
from .images import TARGETS
from .wheel import build_wheel

SAGEMAKER_MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks model.tar.gz in the container
SERVED_NAME_PLACEHOLDER = '"__SERVED_MODEL_NAME__"'

CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


@dataclass(frozen=True)
class Member:
    arcname: str  # path inside /opt/ml/model
    path: Path  # a regular file (links already followed)


@dataclass(frozen=True)
class Contents:
    members: tuple[Member, ...]  # sorted by arcname, one per name
    replaced: tuple[str, ...]  # the folder's own files that a generated one replaced

    def digest(self) -> str:
        """sha256 over names and bytes: equal contents, equal digest (for upload reuse)."""
        h = hashlib.sha256()
        for m in self.members:
            h.update(f"{m.arcname}\0{m.path.stat().st_size}\0".encode())
            with m.path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()

    def size(self) -> int:
        return sum(m.path.stat().st_size for m in self.members)

    def warnings(self) -> list[str]:
        return [
            f"the model folder's {name} is replaced by the generated one" for name in self.replaced
        ]


def resolve_model_dir(model: str, cache_dir: Path) -> Path:
    """model_folder.resolve_model, its error as the deploy commands report it."""
    try:
        return resolve_model(model, cache_dir).locate()
    except ModelFolderError as exc:
        raise InvalidInput("--model", str(exc)) from None


def check_package_folder(path: Path) -> None:
    """A model folder (model_folder's check) with a chat template: what a package needs."""
    try:
        check_model_dir(path)
    except ModelFolderError as exc:
        raise InvalidInput("--model", str(exc)) from None
    if not _has_chat_template(path):
        raise InvalidInput(
            "--model",
            f"{path} has no chat template (tokenizer_config.json's chat_template, "
            f"or {' or '.join(CHAT_TEMPLATE_FILES)}); a chat server cannot build prompts without",
        )


def _has_chat_template(path: Path) -> bool:
    if any((path / name).is_file() for name in CHAT_TEMPLATE_FILES):
        return True
    config = path / "tokenizer_config.json"
    try:
        return bool(config.is_file() and json.loads(config.read_text()).get("chat_template"))
    except (ValueError, AttributeError):
        return False


def package_contents(
    model_dir: Path | None,
    target: str,
    served_name: str,
    workdir: Path,
    wheelhouse: Path | None = None,
) -> Contents:
    """The files for `target`; generated ones are written into `workdir`. With a `wheelhouse`
    (hf-dlc, lmi), the dependencies' wheels go in too and the container installs offline.
    model_dir None: the handler alone, for a container that fetches the model itself."""
    if target not in TARGETS:
        raise InvalidInput("--target", f"must be one of {', '.join(TARGETS)}, not {target!r}")
    own: dict[str, Member] = {}
    if model_dir is not None:
        check_package_folder(model_dir)
        own = {m.arcname: m for m in _model_files(model_dir)}
    generated = _extra_files(target, workdir, served_name, wheelhouse)
    replaced = tuple(sorted(set(own) & set(generated)))
    merged = own | {name: Member(name, path) for name, path in generated.items()}
    return Contents(tuple(merged[n] for n in sorted(merged)), replaced)


def write_tarball(contents: Contents, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    # Level 1: weights barely compress, and level 9 costs minutes on multi-GB models.
    with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
        for m in contents.members:
            tar.add(m.path, arcname=m.arcname)
    partial.replace(out)  # never leave a half-written tarball under the final name
    return out


def build_package(
    model_dir: Path,
    target: str,
    out: Path,
    served_name: str,
    warn: Callable[[str], None] | None = None,
    wheelhouse: Path | None = None,
) -> Path:
    """Write the model.tar.gz for `target` to `out` and return `out`."""
    with tempfile.TemporaryDirectory(prefix="smoai-package-") as tmp:
        contents = package_contents(model_dir, target, served_name, Path(tmp), wheelhouse)
        for warning in contents.warnings():
            (warn or _no_warning)(warning)
        return write_tarball(contents, out)


def _no_warning(_: str) -> None:
    pass


def _package_root(model_dir: Path) -> Path:
    """Where links may point: the folder, or a Hugging Face cache snapshot's model folder."""
    real = model_dir.resolve()
    repo = real.parent.parent
    if real.parent.name == "snapshots" and repo.name.startswith("models--"):
        return repo
    return real


def _model_files(model_dir: Path) -> Iterator[Member]:
    root = _package_root(model_dir)
    yield from _walk(model_dir, "", root, set())


def _walk(folder: Path, prefix: str, root: Path, seen: set[Path]) -> Iterator[Member]:
    real = folder.resolve()
    if real in seen:  # a link loop
        return
    seen = seen | {real}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue  # .git, .cache (tokens), editor files: never uploaded
            path = Path(entry.path)
            arcname = prefix + entry.name
            target = path.resolve() if entry.is_symlink() else path
            if entry.is_symlink() and not target.is_relative_to(root):
                raise InvalidInput(
                    "--model",
                    f"{path} links to {target}, outside {root}; copy the file into the folder",
                )
            if target.is_dir():
                yield from _walk(path, arcname + "/", root, seen)
            elif target.is_file():
                yield Member(arcname, target)
            elif entry.is_symlink():
                raise InvalidInput("--model", f"{path} is a broken link (to {target})")


def _extra_files(
    target: str, tmp: Path, served_name: str, wheelhouse: Path | None
) -> dict[str, Path]:
    """arcname -> file for what a target adds beside the model."""
    if target == "image":
        return {}
    tmp.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(tmp)
    code = "code/" if target == "hf-dlc" else ""  # the toolkit reads code/, DJL the top
    files = {f"{code}{wheel.name}": wheel}
    reqs = f"{SAGEMAKER_MODEL_DIR}/{code}{wheel.name}\n"
    if wheelhouse is not None:
        # Options in a requirements file apply to its whole `pip install -r`: no PyPI at all.
        reqs = f"--no-index\n--find-links {SAGEMAKER_MODEL_DIR}/{code}wheels\n" + reqs
        files |= {f"{code}wheels/{w.name}": w for w in sorted(wheelhouse.glob("*.whl"))}
    files[f"{code}requirements.txt"] = _write(tmp / "requirements.txt", reqs)
    if target == "hf-dlc":
        files["code/inference.py"] = _render("hf_inference.py", served_name, tmp / "inference.py")
        return files
    files["model.py"] = _render("lmi_model.py", served_name, tmp / "model.py")
    files["serving.properties"] = _write(
        tmp / "serving.properties", _template("serving.properties")
    )
    return files


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
