"""model.tar.gz contents per target, and the wheel of this package inside it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from sagemaker_openai.cli import main
from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.images import default_image_uri
from sagemaker_openai.sagemaker.package import build_package, package_contents


def _names(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return set(tar.getnames())


def test_image_target_is_the_model_folder(small_model_dir: Path, tmp_path: Path) -> None:
    names = _names(build_package(small_model_dir, "image", tmp_path / "m.tar.gz", "x"))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.startswith("code/") or n.endswith(".whl") for n in names)


def test_hf_dlc_requirements_install_the_shipped_wheel(
    small_model_dir: Path, tmp_path: Path, unpack
) -> None:
    model_dir = unpack(small_model_dir, "hf-dlc", tmp_path)
    (wheel,) = (model_dir / "code").glob("sagemaker_openai-*-py3-none-any.whl")
    reqs = (model_dir / "code" / "requirements.txt").read_text().split()
    assert reqs == [f"/opt/ml/model/code/{wheel.name}"]
    assert '"demo-served"' in (model_dir / "code" / "inference.py").read_text()
    with zipfile.ZipFile(wheel) as zf:
        assert "sagemaker_openai/chat.py" in zf.namelist()
        assert not any("__pycache__" in n for n in zf.namelist())
    # pip accepts it and it imports: the container's `pip install -r requirements.txt`.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = "import sagemaker_openai.protocol, sagemaker_openai.chat; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_lmi_has_serving_properties_and_model_py(small_model_dir: Path, tmp_path: Path) -> None:
    names = _names(build_package(small_model_dir, "lmi", tmp_path / "m.tar.gz", "x"))
    assert {"serving.properties", "model.py", "requirements.txt"} <= names
    assert any(n.endswith("-py3-none-any.whl") for n in names)


def test_unknown_target(small_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--target"):
        build_package(small_model_dir, "triton", tmp_path / "m.tar.gz", "x")


def test_default_images_come_from_the_table() -> None:
    assert default_image_uri("lmi", "eu-south-1", "ml.g5.xlarge").startswith(
        "692866216735.dkr.ecr.eu-south-1.amazonaws.com/djl-inference:"
    )
    assert "-cpu-" in default_image_uri("hf-dlc", "us-east-1", "ml.m5.xlarge")
    assert "-gpu-" in default_image_uri("hf-dlc", "us-east-1", "ml.g5.xlarge")
    assert ".amazonaws.com.cn/" in default_image_uri("lmi", "cn-north-1", "ml.g5.xlarge")
    with pytest.raises(InvalidInput, match="--image-uri"):
        default_image_uri("image", "us-east-1", "ml.g5.xlarge")


def _copy(model_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in model_dir.iterdir():
        if f.is_file():
            shutil.copyfile(f, dest / f.name)
    return dest


def test_dot_files_and_folders_stay_out(small_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(small_model_dir, tmp_path / "m")
    (model / ".git").mkdir()
    (model / ".git" / "config").write_text("[remote]")
    (model / ".cache" / "huggingface").mkdir(parents=True)
    (model / ".cache" / "huggingface" / "token").write_text("hf_secret")
    (model / ".env").write_text("KEY=secret")
    (model / "extra").mkdir()
    (model / "extra" / ".DS_Store").write_text("x")
    (model / "extra" / "notes.txt").write_text("kept")
    names = _names(build_package(model, "image", tmp_path / "m.tar.gz", "x"))
    assert "extra/notes.txt" in names
    assert not [n for n in names if any(part.startswith(".") for part in n.split("/"))]


def test_links_inside_are_followed_and_outside_refused(
    small_model_dir: Path, tmp_path: Path, capsys
) -> None:
    model = _copy(small_model_dir, tmp_path / "m")
    (model / "model.safetensors").rename(model / "weights.bin.real")
    (model / "model.safetensors").symlink_to("weights.bin.real")  # relative, inside
    out = build_package(model, "image", tmp_path / "m.tar.gz", "x")
    with tarfile.open(out) as tar:
        member = tar.getmember("model.safetensors")
        assert member.isfile() and member.size == 1024  # the bytes, not a link
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of the model")
    (model / "notes.txt").symlink_to(secret)
    with pytest.raises(InvalidInput, match="outside"):
        build_package(model, "image", tmp_path / "n.tar.gz", "x")
    assert main(["package", "--model", str(model), "-o", str(tmp_path / "o.tar.gz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model: ") and "notes.txt" in err and "\n" not in err
    assert not (tmp_path / "o.tar.gz").exists()


def test_folder_without_chat_template_fails_at_package(
    small_model_dir: Path, tmp_path: Path, capsys
) -> None:
    model = _copy(small_model_dir, tmp_path / "m")
    (model / "chat_template.jinja").unlink()
    config = json.loads((model / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    assert main(["package", "--model", str(model), "-o", str(tmp_path / "m.tar.gz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model: ") and "chat template" in err and "\n" not in err


def test_generated_files_replace_the_folders_own(small_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(small_model_dir, tmp_path / "m")
    for name in ("model.py", "serving.properties", "requirements.txt"):
        (model / name).write_text("the folder's own\n")
    warnings: list[str] = []
    out = build_package(model, "lmi", tmp_path / "m.tar.gz", "served", warnings.append)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert len(names) == len(set(names))  # one member per name
        script = tar.extractfile("model.py").read().decode()  # type: ignore[union-attr]
    assert '"served"' in script
    assert sorted(warnings) == [
        f"the model folder's {n} is replaced by the generated one"
        for n in ("model.py", "requirements.txt", "serving.properties")
    ]


def test_same_contents_same_digest(small_model_dir: Path, tmp_path: Path) -> None:
    first = package_contents(small_model_dir, "lmi", "x", tmp_path / "a").digest()
    again = package_contents(small_model_dir, "lmi", "x", tmp_path / "b").digest()
    assert first == again  # the wheel is built byte for byte the same
    model = _copy(small_model_dir, tmp_path / "m")
    (model / "generation_config.json").write_text("{}")
    assert package_contents(model, "lmi", "x", tmp_path / "c").digest() != first


def test_hugging_face_cache_snapshot_packages_and_loads(demo_dir: Path, tmp_path: Path) -> None:
    """models--ORG--NAME/snapshots/REV/* are relative links into ../../blobs, as hub lays it."""
    repo = tmp_path / "hub" / "models--demo--smol"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for f in demo_dir.iterdir():
        if f.is_file():
            blob = blobs / hashlib.sha256(f.name.encode()).hexdigest()
            blob.hardlink_to(f)
            (snapshot / f.name).symlink_to(Path("../../blobs") / blob.name)
    out = build_package(snapshot, "image", tmp_path / "m.tar.gz", "x")
    assert out.stat().st_size > 100 * 2**20  # the weights themselves (a links-only one: ~1 MB)
    unpacked = tmp_path / "opt-ml-model"
    with tarfile.open(out) as tar:
        tar.extractall(unpacked, filter="data")
    out.unlink()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(unpacked)
    model = AutoModelForCausalLM.from_pretrained(unpacked)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_tensors="pt"
    )
    if not hasattr(ids, "shape"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    generated = model.generate(ids, max_new_tokens=2, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 2


def test_dependency_wheels_install_without_network(
    small_model_dir: Path, tmp_path: Path, unpack_offline
) -> None:
    """The hf-dlc requirements.txt installs with --no-index from the tarball's own wheels."""
    model_dir = unpack_offline(small_model_dir, "hf-dlc", tmp_path)
    code = model_dir / "code"
    reqs = (code / "requirements.txt").read_text()
    assert reqs.startswith("--no-index\n--find-links /opt/ml/model/code/wheels\n")
    assert any(w.name.startswith("pydantic_core-") for w in (code / "wheels").iterdir())
    # The container's `pip install -r requirements.txt`, in a bare venv: no index, no network.
    local = tmp_path / "requirements.txt"
    local.write_text(reqs.replace("/opt/ml/model", str(model_dir)))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1"}
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "-r", str(local)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert installed.returncode == 0, installed.stderr
    code_check = "import sagemaker_openai.protocol, starlette, uvicorn, jinja2; print('ok')"
    done = subprocess.run([python, "-c", code_check], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip() == "ok", done.stderr


def test_snapshot_links_stay_inside_their_own_cache_folder(
    small_model_dir: Path, tmp_path: Path
) -> None:
    hub = tmp_path / "hub"
    repo, other = hub / "models--a--b", hub / "models--c--d"
    snapshot = repo / "snapshots" / "rev"
    for folder in (repo / "blobs", other / "blobs", snapshot):
        folder.mkdir(parents=True)
    for f in small_model_dir.iterdir():
        shutil.copyfile(f, repo / "blobs" / f.name)
        (snapshot / f.name).symlink_to(Path("../../blobs") / f.name)
    assert "config.json" in _names(build_package(snapshot, "image", tmp_path / "a.tar.gz", "x"))
    shutil.copyfile(small_model_dir / "tokenizer.json", other / "blobs" / "t")
    (snapshot / "tokenizer.json").unlink()
    (snapshot / "tokenizer.json").symlink_to(Path("../../../models--c--d/blobs/t"))
    with pytest.raises(InvalidInput, match="outside"):
        build_package(snapshot, "image", tmp_path / "b.tar.gz", "x")
