"""Shared fixtures: fake AWS credentials (nothing here may reach real AWS) and the demo model."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from live import SEED_REQUEST as SEED

from sagemaker_openai.demo import ensure_demo_model
from sagemaker_openai.sagemaker.package import build_package
from sagemaker_openai.sagemaker.wheelhouse import ensure_wheelhouse
from sagemaker_openai.settings import load_settings

# the seed says 4000 tokens; kept small so the suite stays fast on 2 cores
SEED_REQUEST = {**SEED, "max_tokens": 8}


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return ensure_demo_model(load_settings().cache_dir)


@pytest.fixture(scope="session")
def light_model_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model as hard links: no 500 MB copy (packages follow links, and refuse ones
    pointing outside the folder, so symlinks would not do)."""
    folder = tmp_path_factory.mktemp("models") / demo_dir.name
    folder.mkdir()
    for f in demo_dir.iterdir():
        if f.is_file():
            try:
                (folder / f.name).hardlink_to(f)
            except OSError:  # another file system
                shutil.copyfile(f, folder / f.name)
    return folder


@pytest.fixture(scope="session")
def small_model_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's config, tokenizer and template with 1 KiB of stand-in weights: for tests of
    layout and upload that never load the model."""
    folder = tmp_path_factory.mktemp("small") / "small-model"
    folder.mkdir()
    for f in demo_dir.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            shutil.copyfile(f, folder / f.name)
    (folder / "model.safetensors").write_bytes(b"\0" * 1024)
    return folder


@pytest.fixture(scope="session")
def seed_request() -> dict:
    return dict(SEED_REQUEST)


@pytest.fixture(scope="session")
def unpack():
    return _unpack


@pytest.fixture(scope="session")
def unpack_offline():
    """As `unpack`, with the dependency wheels shipped (downloaded once into the cache)."""
    house = ensure_wheelhouse(load_settings().cache_dir)
    return lambda model_dir, target, dest: _unpack(model_dir, target, dest, house)


def _unpack(model_dir: Path, target: str, dest: Path, wheelhouse: Path | None = None) -> Path:
    """Package for `target` and unpack it as SageMaker does into its /opt/ml/model."""
    tarball = build_package(
        model_dir, target, dest / "model.tar.gz", "demo-served", wheelhouse=wheelhouse
    )
    unpacked = dest / "opt-ml-model"
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")  # refuses links and paths out of the folder
    tarball.unlink()
    return unpacked
