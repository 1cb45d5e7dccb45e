"""Wheels of this package's run-time dependencies, shipped in hf-dlc and lmi tarballs.

The containers install the package's wheel at start-up; with the dependencies beside it and
`--no-index` in requirements.txt, that install needs no network, so an endpoint in a VPC
without NAT, or with network isolation, starts. Downloaded once per dependency set into the
cache folder (binary wheels for each CPython the images may run, x86_64 Linux).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import DeployError
from .wheel import runtime_requirements

PYTHONS = ("3.10", "3.11", "3.12", "3.13")  # the default images run 3.12; others for --image-uri
PLATFORM = "manylinux2014_x86_64"  # SageMaker's GPU and x86 CPU instances
DONE = "complete"  # marker file written last


def ensure_wheelhouse(cache_dir: Path) -> Path:
    """The folder of wheels for this package's requirements, downloaded unless cached."""
    requirements = runtime_requirements()
    key = hashlib.sha256(json.dumps([requirements, PYTHONS, PLATFORM]).encode()).hexdigest()
    folder = cache_dir / "wheelhouse" / key[:16]
    if (folder / DONE).is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for python in PYTHONS:
        _download(requirements, python, partial)
    (partial / DONE).write_text("\n".join(requirements) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder


def wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


def _download(requirements: list[str], python: str, dest: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--platform",
        PLATFORM,
        "--python-version",
        python,
        "--dest",
        str(dest),
        *requirements,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise DeployError(
            f"could not download the dependency wheels for Python {python} ({last}); "
            "pass --online-deps to let the container install them from PyPI"
        )
