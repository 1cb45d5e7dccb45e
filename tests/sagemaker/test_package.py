"""model.tar.gz contents per target, and the wheel of this package inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.images import default_image_uri
from sagemaker_openai.sagemaker.package import build_package


def _names(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return set(tar.getnames())


def test_image_target_is_the_model_folder(light_model_dir: Path, tmp_path: Path) -> None:
    names = _names(build_package(light_model_dir, "image", tmp_path / "m.tar.gz", "x"))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.startswith("code/") or n.endswith(".whl") for n in names)


def test_hf_dlc_requirements_install_offline_from_the_tarball(
    light_model_dir: Path, tmp_path: Path, unpack
) -> None:
    model_dir = unpack(light_model_dir, "hf-dlc", tmp_path)
    (wheel,) = (model_dir / "code" / "wheels").glob("sagemaker_openai-*-py3-none-any.whl")
    reqs = (model_dir / "code" / "requirements.txt").read_text()
    assert "--no-index" in reqs.split() and "--find-links wheels" in reqs
    assert '"demo-served"' in (model_dir / "code" / "inference.py").read_text()
    with zipfile.ZipFile(wheel) as zf:
        assert "sagemaker_openai/chat.py" in zf.namelist()
        assert not any("__pycache__" in n for n in zf.namelist())
    # The toolkit's `pip install -r code/requirements.txt`, from another folder, with no pip
    # configuration (this machine's pip.conf adds local indexes and wheel folders): every
    # dependency must come from the tarball, or this fails.
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
        + ["-r", str(model_dir / "code" / "requirements.txt")],
        env={"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull},
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    names = {p.name.split("-")[0].lower() for p in target.glob("*.dist-info")}
    assert {"sagemaker_openai", "starlette", "pydantic", "pydantic_core", "uvicorn"} <= names
    code = "import sagemaker_openai.protocol, sagemaker_openai.chat, starlette; print('ok')"
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_lmi_has_serving_properties_and_model_py(light_model_dir: Path, tmp_path: Path) -> None:
    names = _names(build_package(light_model_dir, "lmi", tmp_path / "m.tar.gz", "x"))
    assert {"serving.properties", "model.py", "requirements.txt"} <= names
    # DJL's folder for wheels (it adds `-f requirements/` to its pip call)
    assert any(n.startswith("requirements/sagemaker_openai-") for n in names)
    assert any(n.startswith("requirements/pydantic_core-") and "cp312" in n for n in names)


def test_unknown_target(light_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--target"):
        build_package(light_model_dir, "triton", tmp_path / "m.tar.gz", "x")


def test_default_images_come_from_the_table() -> None:
    assert default_image_uri("lmi", "eu-south-1", "ml.g5.xlarge").startswith(
        "692866216735.dkr.ecr.eu-south-1.amazonaws.com/djl-inference:"
    )
    assert "-cpu-" in default_image_uri("hf-dlc", "us-east-1", "ml.m5.xlarge")
    assert "-gpu-" in default_image_uri("hf-dlc", "us-east-1", "ml.g5.xlarge")
    assert ".amazonaws.com.cn/" in default_image_uri("lmi", "cn-north-1", "ml.g5.xlarge")
    with pytest.raises(InvalidInput, match="--image-uri"):
        default_image_uri("image", "us-east-1", "ml.g5.xlarge")
