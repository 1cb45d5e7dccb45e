"""A wheel of this very package, built from its installed files, to ship inside model tarballs.

sagemaker-openai is not on PyPI, so the hf-dlc and lmi scripts install it from a wheel in the
tarball. Writing the wheel directly (it is a zip with a dist-info folder) needs no source tree,
no build backend and no network, so it works from any installation. The same files give the
same bytes, so an unchanged package is recognised and not uploaded again.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import sagemaker_openai

DIST = "sagemaker_openai"
PROJECT = "sagemaker-openai"


def build_wheel(out_dir: Path) -> Path:
    """Write `sagemaker_openai-<version>-py3-none-any.whl` into out_dir and return its path."""
    version, requires = _metadata()
    package_dir = Path(sagemaker_openai.__file__).parent
    wheel = out_dir / f"{DIST}-{version}-py3-none-any.whl"
    info = f"{DIST}-{version}.dist-info"
    records: list[str] = []
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes) -> None:
            zf.writestr(_entry(name), data)
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
        zf.writestr(_entry(f"{info}/RECORD"), "\n".join(records) + "\n")
    return wheel


def _entry(name: str) -> zipfile.ZipInfo:
    """A fixed timestamp: the same files give the same wheel bytes (and package digest)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _metadata() -> tuple[str, list[str]]:
    try:
        dist = importlib.metadata.distribution(PROJECT)
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0", []  # running from a source tree that was never installed
    return dist.version, list(dist.requires or [])


def runtime_requirements() -> list[str]:
    """This package's own requirements, without any extra's (the containers bring torch)."""
    _, requires = _metadata()
    return [r for r in requires if "extra ==" not in r]


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
