"""hf://ORG/NAME[@REVISION] models: parsed, found in the Hugging Face Hub cache, served.

The Hub itself is not reachable here: the cache is laid out as huggingface_hub 2.4.0 reads it
(HF_HOME/hub/models--ORG--NAME/snapshots/<commit>/..., refs/main naming the commit), from the
demo model's files, and HF_HUB_OFFLINE=1 makes huggingface_hub read only that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from live import start_server, stop, wait_ready

from sagemaker_openai.model_folder import (
    HubModel,
    ModelFolderError,
    djl_model_dir,
    parse_hub_model,
    resolve_model,
)

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
COMMIT = "a" * 40


def lay_out_hub_cache(hf_home: Path, repo: str, files: Path, ref: str = "main") -> Path:
    """A Hub cache holding `files` as `repo` at COMMIT, `ref` pointing at it: each file a blob
    (a hard link to the demo model's, where the file system allows), linked from the snapshot."""
    cached = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = cached / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (cached / "blobs").mkdir()
    (cached / "refs").mkdir()
    (cached / "refs" / ref).write_text(COMMIT)
    for i, f in enumerate(sorted(files.iterdir())):
        if f.is_file():
            blob = cached / "blobs" / f"{i:040x}"
            try:
                blob.hardlink_to(f)
            except OSError:  # another file system
                shutil.copyfile(f, blob)
            (snapshot / f.name).symlink_to(Path("..", "..", "blobs", blob.name))
    return snapshot


@pytest.fixture
def hub_home(
    demo_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    home = tmp_path / "hf-home"
    snapshot = lay_out_hub_cache(home, REPO, demo_model_dir)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads HF_HUB_OFFLINE and HF_HOME once, at import: this process's copy
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
    return home, snapshot


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("hf://HuggingFaceTB/SmolLM2-135M-Instruct", HubModel(REPO)),
        ("hf://HuggingFaceTB/SmolLM2-135M-Instruct@v1.0", HubModel(REPO, "v1.0")),
        ("/models/x", None),
        ("s3://bucket/prefix/", None),
    ],
)
def test_hub_urls_are_parsed(text: str, parsed: HubModel | None) -> None:
    assert parse_hub_model(text) == parsed


@pytest.mark.parametrize("bad", ["hf://NoOrg", "hf://a/b/c", "hf://org/name@", "hf:///name"])
def test_malformed_hub_urls_are_refused(bad: str) -> None:
    with pytest.raises(ModelFolderError, match="is not hf://ORG/NAME"):
        parse_hub_model(bad)


def test_a_cached_hub_model_resolves_offline(hub_home, tmp_path: Path) -> None:
    _, snapshot = hub_home
    source = resolve_model(f"hf://{REPO}", tmp_path)
    assert source.name == "SmolLM2-135M-Instruct"
    assert source.locate() == snapshot
    missing = f"hf://{REPO}@v9"  # no such ref in the cache
    with pytest.raises(ModelFolderError, match="not in the Hugging Face cache"):
        resolve_model(missing, tmp_path)


def test_the_lmi_handler_serves_djls_model_id(hub_home, tmp_path: Path) -> None:
    """DJL passes option.model_id as the property model_id: a Hub id is fetched, a folder (an
    S3 prefix DJL synced) is served as it is, none leaves DJL's model_dir."""
    _, snapshot = hub_home
    assert djl_model_dir({"model_id": REPO, "model_dir": "/opt/ml/model"}, tmp_path) == snapshot
    assert djl_model_dir({"model_id": str(tmp_path)}, tmp_path) == tmp_path
    assert djl_model_dir({"model_dir": "/opt/ml/model"}, tmp_path) == Path("/opt/ml/model")


def test_package_packs_a_hub_model_from_the_cache(hub_home, tmp_path: Path) -> None:
    import tarfile

    from sagemaker_openai.cli import main

    out = tmp_path / "model.tar.gz"
    argv = ["package", "--model", f"hf://{REPO}", "--target", "image", "-o", str(out)]
    assert main(argv) == 0
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names


def test_serve_answers_a_hub_model_from_the_cache(hub_home, tmp_path: Path) -> None:
    home, _ = hub_home
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    process, url, log = start_server(
        tmp_path, "--model", f"hf://{REPO}", "--engine", "transformers", env=env
    )
    try:
        wait_ready(process, url, log)
        body = {
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "temperature": 0,
            "max_tokens": 12,
        }
        reply = httpx.post(f"{url}/invocations", json=body, timeout=120)
    finally:
        stop(process)
    assert reply.status_code == 200, reply.text
    completion = reply.json()
    assert completion["model"] == "SmolLM2-135M-Instruct"  # the Hub name serves as the name
    assert completion["choices"][0]["message"]["content"]


def test_serve_of_a_hub_model_not_in_the_cache_is_one_line(hub_home) -> None:
    home, _ = hub_home
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sagemaker_openai.cli", "serve", "--model", "hf://Nobody/Nothing"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "hf://Nobody/Nothing is not in the Hugging Face cache" in lines[0]


def test_an_unreachable_hub_is_one_line(tmp_path: Path) -> None:
    """No network (a closed port as the Hub): `package` says so in one line, exit 1."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    argv = ["package", "--model", "hf://Nobody/Nothing", "-o", str(tmp_path / "m.tar.gz")]
    done = subprocess.run(
        [sys.executable, "-m", "sagemaker_openai.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "hf://Nobody/Nothing could not be fetched" in lines[0], lines
