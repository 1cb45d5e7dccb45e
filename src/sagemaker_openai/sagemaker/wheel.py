"""Wheels shipped inside model tarballs: this very package and its dependencies, offline.

sagemaker-openai is not on PyPI, so the hf-dlc and lmi containers install it from a wheel in the
tarball. Writing that wheel directly (it is a zip with a dist-info folder) needs no source tree,
no build backend and no network, so it works from any installation.

Its dependencies (starlette, pydantic, ...) travel as wheels too, downloaded once at package time
for each Python the images run: the tarball's requirements.txt says `--no-index`, so a container
in a VPC without NAT, or with network isolation, installs everything it lacks from the tarball.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import sagemaker_openai

DIST = "sagemaker_openai"
PROJECT = "sagemaker-openai"

# Pythons of the default images: LMI 0.30 runs 3.10, the HF DLC and LMI 0.36 run 3.12.
IMAGE_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# Linux x86_64 wheel tags the images' pip accepts (glibc 2.28 and later).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


class WheelDownloadError(RuntimeError):
    """pip could not fetch a dependency wheel (no index reachable, or no wheel for a platform)."""


def offline_requirements(wheel: Path, wheels_dir_name: str) -> str:
    """requirements.txt installing `wheel` and its dependencies from `wheels_dir_name` only.

    pip reads a relative --find-links in a requirements file relative to that file, so the
    text holds wherever SageMaker unpacks the model.
    """
    version = wheel.name.split("-")[1]
    return (
        "# Offline: this package and its dependencies from the wheels in the tarball, so the\n"
        "# container needs no network at start-up. Packages the image has are kept as they are.\n"
        f"--no-index\n--find-links {wheels_dir_name}\n{PROJECT}=={version}\n"
    )


DEFAULT_CACHE = Path.home() / ".cache" / "sagemaker-openai"


def dependency_wheels(
    cache_dir: Path = DEFAULT_CACHE, pythons: Sequence[str] = IMAGE_PYTHONS
) -> list[Path]:
    """Wheels of this package's dependencies for each Python in `pythons`, cached in cache_dir.

    Downloaded once per dependency set and Python (pip, from the indexes pip is configured
    with); later packages reuse them without network.
    """
    _, requires = _metadata()
    base = sorted(r for r in requires if "extra ==" not in r)
    key = hashlib.sha256(json.dumps([base, list(PLATFORMS)]).encode()).hexdigest()[:12]
    wheels: dict[str, Path] = {}  # by file name: a pure-Python wheel serves every Python
    for python in pythons:
        folder = Path(cache_dir) / "wheels" / f"{key}-py{python}"
        if not (folder / ".complete").is_file():
            _download(base, python, folder)
        wheels.update((p.name, p) for p in folder.glob("*.whl"))
    return [wheels[name] for name in sorted(wheels)]


def _download(requirements: list[str], python: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if not requirements:  # a source tree that was never installed declares none
        (folder / ".complete").touch()
        return
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    cmd += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    cmd += [*platforms, "--dest", str(folder), *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["pip download failed"])[-1]
        raise WheelDownloadError(
            f"could not download dependency wheels for Python {python}: {tail}"
        )
    (folder / ".complete").touch()


def build_wheel(out_dir: Path) -> Path:
    """Write `sagemaker_openai-<version>-py3-none-any.whl` into out_dir and return its path."""
    version, requires = _metadata()
    package_dir = Path(sagemaker_openai.__file__).parent
    wheel = out_dir / f"{DIST}-{version}-py3-none-any.whl"
    info = f"{DIST}-{version}.dist-info"
    records: list[str] = []
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes) -> None:
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{name},sha256={digest.decode()},{len(data)}")

        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                add(
                    f"sagemaker_openai/{path.relative_to(package_dir).as_posix()}",
                    path.read_bytes(),
                )
        metadata = [
            "Metadata-Version: 2.1",
            f"Name: {PROJECT}",
            f"Version: {version}",
            "Requires-Python: >=3.10",
        ]
        metadata += [f"Provides-Extra: {e}" for e in sorted(_extras(requires))]
        metadata += [f"Requires-Dist: {r}" for r in requires]
        add(f"{info}/METADATA", ("\n".join(metadata) + "\n").encode())
        add(
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: sagemaker-openai\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        )
        add(f"{info}/entry_points.txt", _entry_points().encode())
        records.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return wheel


def _metadata() -> tuple[str, list[str]]:
    try:
        dist = importlib.metadata.distribution(PROJECT)
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0", []  # running from a source tree that was never installed
    return dist.version, list(dist.requires or [])


def _extras(requires: list[str]) -> set[str]:
    extras = set()
    for req in requires:
        if "extra ==" in req:
            extras.add(req.split("extra ==")[1].strip().strip("'\""))
    return extras


def _entry_points() -> str:
    return (
        "[console_scripts]\n"
        "sagemaker-openai = sagemaker_openai.cli:main\n"
        "serve = sagemaker_openai.cli:sagemaker_serve\n"
    )
