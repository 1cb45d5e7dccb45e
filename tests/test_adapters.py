"""LoRA adapters through real HTTP with the real demo model: the adapter routes of
aws/model-hosting-container-standards (commit d77870c), requests naming an adapter by header or
`model`, and two adapters served side by side, on both engines."""

from __future__ import annotations

import importlib.util
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sagemaker_openai.serving.adapters import ADAPTER_HEADER

PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]
MAX_TOKENS = 24


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    """A random LoRA (r=8 on q_proj and v_proj) saved by PEFT. PEFT's default leaves B at zero
    (no change at all); here B is random and the scale large, so greedy text changes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    made = {
        name: make_adapter(demo_model_dir, root / name, seed) for name, seed in (("a", 1), ("b", 2))
    }
    # a LoRA folder whose targets this model lacks, and a PEFT folder of another kind
    made["alien"] = shutil.copytree(made["a"], root / "alien")
    _edit_config(made["alien"], target_modules=["query_key_value", "v_proj"])
    _rename_weights(made["alien"] / "adapter_model.safetensors", "q_proj", "query_key_value")
    made["prefix"] = shutil.copytree(made["a"], root / "prefix")
    _edit_config(made["prefix"], peft_type="PREFIX_TUNING")
    return made


def _rename_weights(path: Path, old: str, new: str) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(path)
    save_file({key.replace(old, new): value for key, value in weights.items()}, path)


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def chat(url: str, headers: dict[str, str] | None = None, **fields: object) -> httpx.Response:
    body = {"messages": PROMPT, "temperature": 0, "max_tokens": MAX_TOKENS, **fields}
    return httpx.post(f"{url}/invocations", json=body, headers=headers or {}, timeout=300)


def answer(url: str, adapter: str | None = None, **fields: object) -> str:
    reply = chat(url, {ADAPTER_HEADER: adapter} if adapter else {}, **fields)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["choices"][0]["message"]["content"])


def streamed(url: str, adapter: str) -> str:
    body = {"messages": PROMPT, "temperature": 0, "max_tokens": MAX_TOKENS, "stream": True}
    headers = {ADAPTER_HEADER: adapter}
    with httpx.stream("POST", f"{url}/invocations", json=body, headers=headers, timeout=300) as r:
        assert r.status_code == 200
        chunks = [json.loads(line) for line in r.iter_lines() if line]
    assert {c["model"] for c in chunks} == {adapter}
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def register(url: str, name: str, src: Path | str, **extra: object) -> httpx.Response:
    return httpx.post(f"{url}/adapters", json={"name": name, "src": str(src), **extra}, timeout=120)


def assert_error(reply: httpx.Response, status: int, param: str | None) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param, error
    return error


# fp32: batching reorders floating-point sums, and in bf16 that flips near-tie greedy tokens
# (tests/engines/test_contract.py, NEAR_TIE); in fp32 a batched answer is the one given alone.
FP32 = ("--dtype", "float32")


@pytest.fixture(scope="module")
def lora_url(serve_demo) -> str:
    return serve_demo("transformers", "--max-loras", "3", *FP32).url


def test_register_use_and_unregister(lora_url: str, adapters: dict[str, Path]) -> None:
    base = answer(lora_url)
    reply = register(lora_url, "tone", adapters["a"])
    assert (reply.status_code, reply.text) == (200, "Adapter tone registered")  # the standard's

    tuned = chat(lora_url, {ADAPTER_HEADER: "tone"})
    assert tuned.json()["model"] == "tone"
    assert tuned.json()["choices"][0]["message"]["content"] != base
    assert answer(lora_url, model="tone") == answer(lora_url, "tone")  # `model` names it too
    assert answer(lora_url) == base  # the base model is unchanged beside an adapter
    models = httpx.get(f"{lora_url}/v1/models").json()["data"]
    assert {"id": "tone", "parent": models[0]["id"]}.items() <= models[1].items()

    reply = httpx.delete(f"{lora_url}/adapters/tone")
    assert (reply.status_code, reply.text) == (200, "Adapter tone unregistered")
    error = assert_error(chat(lora_url, {ADAPTER_HEADER: "tone"}), 404, "model")
    assert "tone" in error["message"] and error["code"] == "adapter_not_found"
    assert answer(lora_url, model="tone") == base  # any other `model` is the base (CONTRACT.md)


def test_two_adapters_side_by_side(lora_url: str, adapters: dict[str, Path]) -> None:
    """Concurrent requests of two adapters and the base share batches; each answers as alone."""
    for name in ("left", "right"):
        assert register(lora_url, name, adapters["a" if name == "left" else "b"]).status_code == 200
    alone = {name: answer(lora_url, name) for name in ("left", "right")}
    alone[""] = answer(lora_url)
    assert len(set(alone.values())) == 3, alone
    jobs = ["left", "right", "", "left", "right", ""]
    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(lambda name: answer(lora_url, name or None), jobs))
        streams = list(pool.map(lambda name: streamed(lora_url, name), ["left", "right"]))
    assert together == [alone[name] for name in jobs]
    assert streams == [alone["left"], alone["right"]]
    for name in ("left", "right"):
        assert httpx.delete(f"{lora_url}/adapters/{name}").status_code == 200


def test_unregister_lets_running_requests_finish(lora_url: str, adapters: dict[str, Path]) -> None:
    """Weights stay until the last request using them ends (vLLM's unload behaves so)."""
    assert register(lora_url, "going", adapters["b"]).status_code == 200
    long = {"max_tokens": 160}  # still generating when the adapter is unregistered
    alone = answer(lora_url, "going", **long)
    body = {"messages": PROMPT, "temperature": 0, "stream": True, **long}
    headers = {ADAPTER_HEADER: "going"}
    with httpx.stream("POST", f"{lora_url}/invocations", json=body, headers=headers) as r:
        lines = r.iter_lines()
        before = [json.loads(next(lines)) for _ in range(2)]  # under way
        assert httpx.delete(f"{lora_url}/adapters/going").status_code == 200
        assert_error(chat(lora_url, headers), 404, "model")  # new requests: gone
        after = [json.loads(line) for line in lines if line]
    assert len(after) > 10  # the deletion came mid-stream
    chunks = before + after
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == alone


def test_bad_src_is_400_naming_src(
    lora_url: str, adapters: dict[str, Path], demo_model_dir: Path, tmp_path: Path
) -> None:
    bad = {
        "missing": tmp_path / "nowhere",
        "a model, not an adapter": demo_model_dir,
        "not LoRA": adapters["prefix"],
        "targets the model lacks": adapters["alien"],
        "in S3": "s3://bucket/adapter.tar.gz",
    }
    for why, src in bad.items():
        error = assert_error(register(lora_url, "bad", src), 400, "src")
        assert str(src) in error["message"], why
    assert (
        "query_key_value"
        in assert_error(register(lora_url, "x", adapters["alien"]), 400, "src")["message"]
    )
    assert "bad" not in httpx.get(f"{lora_url}/v1/models").text
    assert answer(lora_url)  # still serving


def test_names_query_form_duplicates_and_unknown(lora_url: str, adapters: dict[str, Path]) -> None:
    # no JSON body: the standard reads name and src from the query string
    query = {"name": "q", "src": str(adapters["b"]), "preload": "true", "pin": "false"}
    reply = httpx.post(f"{lora_url}/adapters", params=query, timeout=120)
    assert (reply.status_code, reply.text) == (200, "Adapter q registered")
    assert (
        "already registered"
        in assert_error(register(lora_url, "q", adapters["a"]), 400, "name")["message"]
    )
    assert_error(register(lora_url, "", adapters["a"]), 400, "name")
    assert_error(register(lora_url, "z", ""), 400, "src")
    assert_error(register(lora_url, "z", adapters["a"], pin="sometimes"), 400, "pin")
    assert_error(httpx.delete(f"{lora_url}/adapters/nobody"), 404, "model")
    alias = {"X-Amzn-SageMaker-Adapter-Alias": "Q, the adapter"}  # names it in the text
    reply = httpx.delete(f"{lora_url}/adapters/q", headers=alias)
    assert (reply.status_code, reply.text) == (200, "Adapter Q, the adapter unregistered")
    assert_error(httpx.delete(f"{lora_url}/adapters/q"), 404, "model")


def test_adapters_off_by_default(base_url: str, adapters: dict[str, Path]) -> None:
    error = assert_error(register(base_url, "tone", adapters["a"]), 400, None)
    assert error["code"] == "adapters_disabled" and "--max-loras" in error["message"]
    assert_error(chat(base_url, {ADAPTER_HEADER: "tone"}), 404, "model")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")
def test_vllm_serves_two_adapters(serve_demo, adapters: dict[str, Path]) -> None:
    url = serve_demo("vllm", "--max-loras", "2", "--enforce-eager", *FP32).url
    base = answer(url)
    for name in ("a", "b"):
        assert register(url, name, adapters[name]).text == f"Adapter {name} registered"
    alone = {name: answer(url, name) for name in ("a", "b")}
    assert len({base, *alone.values()}) == 3, (base, alone)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda name: answer(url, name), ["a", "b", "a", "b"]))
    assert together == [alone["a"], alone["b"], alone["a"], alone["b"]]
    assert httpx.delete(f"{url}/adapters/a").text == "Adapter a unregistered"
    assert_error(chat(url, {ADAPTER_HEADER: "a"}), 404, "model")
    assert (
        "query_key_value"
        in assert_error(register(url, "c", adapters["alien"]), 400, "src")["message"]
    )
    assert answer(url) == base


def test_emulator_invokes_an_adapter_component(lora_url: str, adapters: dict[str, Path]) -> None:
    """Unmodified boto3 names the adapter's inference component; the emulator registers the
    adapter with the container (as SageMaker does when the component is created) and forwards
    calls naming it with X-Amzn-SageMaker-Adapter-Identifier."""
    import openai
    from botocore.credentials import Credentials
    from local_sagemaker import emulator_for, runtime_client

    from sagemaker_openai.bearer import generate_token

    components = {"inference_components": ("base-ic",)}
    with emulator_for(
        lora_url, adapter_components=(("tuned", str(adapters["a"])),), **components
    ) as emu:
        runtime = runtime_client(emu)
        body = json.dumps({"messages": PROMPT, "temperature": 0, "max_tokens": MAX_TOKENS})

        def invoke(component: str) -> dict:
            reply = runtime.invoke_endpoint(
                EndpointName="demo", InferenceComponentName=component, Body=body
            )
            return json.loads(reply["Body"].read())

        tuned = invoke("tuned")
        assert tuned["model"] == "tuned"
        assert tuned["choices"][0]["message"]["content"] == answer(lora_url, "tuned")
        assert invoke("base-ic")["choices"][0]["message"]["content"] == answer(lora_url)
        stream = runtime.invoke_endpoint_with_response_stream(
            EndpointName="demo",
            InferenceComponentName="tuned",
            Body=body.replace("{", '{"stream": true, ', 1),
        )
        lines = b"".join(e["PayloadPart"]["Bytes"] for e in stream["Body"] if "PayloadPart" in e)
        chunks = [json.loads(line) for line in lines.splitlines()]
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        assert text == answer(lora_url, "tuned")
        # SageMaker's OpenAI route, inference-component form, with the unmodified openai client
        key = generate_token(Credentials("AKIDLOCALTEST", "local-test-secret"), "us-east-1")
        route = f"{emu}/endpoints/demo/inference-components/tuned/openai/v1"
        client = openai.OpenAI(base_url=route, api_key=key, max_retries=0)
        completion = client.chat.completions.create(
            model="", messages=PROMPT, temperature=0, max_tokens=MAX_TOKENS
        )
        assert completion.choices[0].message.content == answer(lora_url, "tuned")
    assert httpx.delete(f"{lora_url}/adapters/tuned").status_code == 200


def test_an_adapter_gone_while_its_request_waited_is_a_404() -> None:
    """Engines raise AdapterMissing when a sequence starts after its adapter was unregistered
    (it waited for admission); the one error mapping makes it the same 404 as a late header."""
    from sagemaker_openai.engines.base import AdapterMissing
    from sagemaker_openai.serving.invocation import error_reply

    reply = error_reply(AdapterMissing("late"))
    assert reply.status == 404 and isinstance(reply.body, bytes)
    assert json.loads(reply.body)["error"]["code"] == "adapter_not_found"
