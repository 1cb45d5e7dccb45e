"""Each packaged handler on the software of the default image it is packaged for.

The hf-dlc and lmi handlers run in side environments holding the exact transformers, tokenizers
and Hugging Face toolkit versions of the image named in each test (tests/side_envs.py), after
this package and its dependencies were installed the way the container installs them: the
tarball's requirements.txt, offline, from the wheels inside it. The lmi handler is driven through
the DJL stand-in (tests/sagemaker/djl_stub), which follows DJL Serving's own source.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import side_envs

DRIVERS = Path(__file__).parent / "drivers"
FRANCE = {
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "temperature": 0,
    "max_tokens": 12,
}
# What the demo model answers greedily with transformers 5 in this repository's environment.
FRANCE_ANSWER = "The capital of France is Paris."


def _prepare(env: side_envs.SideEnv, model_dir: Path, requirements: Path) -> Path:
    exe = side_envs.python(env)
    # The file names SageMaker's /opt/ml/model; here the tarball is unpacked elsewhere.
    here = requirements.with_name("requirements-here.txt")
    here.write_text(requirements.read_text().replace("/opt/ml/model", str(model_dir)))
    assert "--no-index" in here.read_text().split()  # offline: no index at all
    done = side_envs.offline_install(exe, here)
    assert done.returncode == 0, f"offline install failed in {env.name}:\n{done.stderr}"
    return exe


def _run(exe: Path, driver: str, *args: str, bodies: list[dict]) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed wheel only
    done = subprocess.run(
        [str(exe), str(DRIVERS / driver), *args],
        input=json.dumps([json.dumps(b) for b in bodies]),
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hf_dlc_model(
    light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack_offline
) -> Path:
    return unpack_offline(light_model_dir, "hf-dlc", tmp_path_factory.mktemp("hf-dlc"))


@pytest.fixture(scope="module")
def lmi_model(
    light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack_offline
) -> Path:
    return unpack_offline(light_model_dir, "lmi", tmp_path_factory.mktemp("lmi"))


def test_hf_dlc_answers_the_seed_request(hf_dlc_model: Path, seed_request: dict):
    """huggingface-pytorch-inference:2.6.0-transformers5.5.3-gpu-py312-cu124-ubuntu22.04."""
    env = side_envs.HF_DLC
    exe = _prepare(env, hf_dlc_model, hf_dlc_model / "code" / "requirements.txt")
    try:
        bodies = [{**seed_request, "stream": False}, seed_request, FRANCE]
        out = _run(exe, "hf_toolkit.py", str(hf_dlc_model), bodies=bodies)
    finally:
        side_envs.reset(env)
    assert out["transformers"] == env.pins[0].split("==")[1]
    (status, ctype, body), (s_status, _, s_body), (_, _, france) = out["results"]
    assert status == 200 and ctype == "application/json"
    completion = json.loads(body)
    assert completion["object"] == "chat.completion" and completion["model"] == "demo-served"
    assert completion["choices"][0]["message"]["content"]
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # the toolkit cannot stream: a 400 naming `stream`, in OpenAI's shape
    assert s_status == 400
    assert json.loads(s_body)["error"]["param"] == "stream"
    # same greedy text as transformers 5: config.json reads the same (rope_theta, dtype)
    assert json.loads(france)["choices"][0]["message"]["content"] == FRANCE_ANSWER


def test_lmi_streams_one_chunk_per_line_in_djl_sync_mode(lmi_model: Path, seed_request):
    """djl-inference:0.36.0-lmi28.0.0-cu130 with async_mode off (DJL 0.34 and earlier)."""
    env = side_envs.LMI
    exe = _prepare(env, lmi_model, lmi_model / "requirements.txt")
    try:
        bodies = [dict(seed_request, stream_options={"include_usage": True}), FRANCE]
        out = _run(exe, "djl.py", str(lmi_model), "sync", bodies=bodies)
    finally:
        side_envs.reset(env)
    (status, headers, chunks, _), (_, _, france, _) = out["results"]
    _assert_jsonl_stream(status, headers, chunks)
    assert json.loads(france[0])["choices"][0]["message"]["content"] == FRANCE_ANSWER


def test_lmi_0_36_async_mode_serves_requests_concurrently(lmi_model: Path, seed_request: dict):
    """djl-inference:0.36.0-lmi28.0.0-cu130: serving.properties turns DJL's async mode on.
    Its vLLM cannot be installed here, so the transformers engine serves (engine auto)."""
    assert "option.async_mode=true" in (lmi_model / "serving.properties").read_text()
    env = side_envs.LMI
    exe = _prepare(env, lmi_model, lmi_model / "requirements.txt")
    try:
        slow = dict(seed_request, max_tokens=24, stream_options={"include_usage": True})
        bad = {"messages": [{"role": "user", "content": "hi"}], "temperature": 9}
        out = _run(exe, "djl.py", str(lmi_model), "async", bodies=[slow, slow, bad, FRANCE])
    finally:
        side_envs.reset(env)
    assert out["transformers"] == "5.9.0"
    (s1, h1, c1, t1), (s2, h2, c2, t2), (bad_status, _, bad_body, _), (_, _, france, _) = out[
        "results"
    ]
    _assert_jsonl_stream(s1, h1, c1)
    _assert_jsonl_stream(s2, h2, c2)
    # served at the same time: each stream sent chunks before the other one finished
    assert t1[0] < t2[-1] and t2[0] < t1[-1]
    # DJL's async mode sends its own error body; ours travels inside it, status kept
    assert bad_status == 400
    djl_body = json.loads(bad_body[0])
    assert djl_body["code"] == 400
    assert json.loads(djl_body["error"])["error"]["param"] == "temperature"
    assert json.loads(france[0])["choices"][0]["message"]["content"] == FRANCE_ANSWER


def _assert_jsonl_stream(status: int, headers: dict, chunks: list[str]) -> None:
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/jsonlines"
    objs = []
    for chunk in chunks:  # one complete object and its newline per HTTP chunk
        assert chunk.endswith("}\n") and chunk.count("\n") == 1, chunk
        objs.append(json.loads(chunk))
    *deltas, usage = objs
    assert deltas[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(o["object"] == "chat.completion.chunk" for o in deltas)
    assert "outputs" not in objs[0]  # DJL's default formatter's wrapping
    assert deltas[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage["choices"] == [] and set(usage["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
