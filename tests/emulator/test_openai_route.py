"""SageMaker's OpenAI-compatible route through the emulator, called by the unmodified `openai`
client with a token from `sagemaker-openai token`, in front of the real demo server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import openai
import pytest
from local_sagemaker import emulator_for

KEY_ID, SECRET = "AKIDLOCALTEST", "local-test-secret"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def token_env(base: str, endpoint: str = "demo", *extra: str, secret: str = SECRET) -> dict:
    """Run the real CLI, as a user would, and read the two exports it prints."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": secret}
    env.pop("AWS_SESSION_TOKEN", None)
    cmd = [sys.executable, "-m", "sagemaker_openai.cli", "token", "--endpoint-name", endpoint]
    cmd += ["--region", "us-east-1", "--endpoint-url", base, *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return dict(pairs)


def client_for(base: str, *extra: str, secret: str = SECRET) -> openai.OpenAI:
    exported = token_env(base, "demo", *extra, secret=secret)
    return openai.OpenAI(
        base_url=exported["OPENAI_BASE_URL"], api_key=exported["OPENAI_API_KEY"], max_retries=0
    )


@pytest.fixture(scope="module", params=["v1", "openai", "invocations-sse"])
def emulator(request, demo_server):
    """Plausible forwards the container answers in SSE: /v1/chat/completions,
    /openai/v1/chat/completions, and /invocations with an SSE Accept. The emulator verifies
    signatures with its own keys."""
    with emulator_for(
        demo_server.url, openai_forward=request.param, credentials=(KEY_ID, SECRET)
    ) as url:
        yield url


def test_openai_client_non_streaming(emulator: str) -> None:
    completion = client_for(emulator).chat.completions.create(
        model="", messages=ASK, temperature=0, max_tokens=12
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_openai_client_streaming(emulator: str) -> None:
    stream = client_for(emulator).chat.completions.create(
        model="", messages=ASK, temperature=0, max_tokens=12, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 3 and text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_container_errors_come_back_as_is(emulator: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(emulator).chat.completions.create(model="", messages=ASK, temperature=5)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "temperature"  # OpenAI's shape, straight from us


def test_a_token_signed_with_another_secret_is_refused(emulator: str) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client_for(emulator, secret="not-the-secret").chat.completions.create(
            model="", messages=ASK, max_tokens=2
        )
    assert "signature does not match" in caught.value.response.json()["Message"]


def test_a_key_that_is_no_token_is_refused(emulator: str) -> None:
    client = openai.OpenAI(base_url=f"{emulator}/endpoints/demo/openai/v1", api_key="sk-1")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.with_options(max_retries=0).chat.completions.create(model="", messages=ASK)
    assert "starts with 'sagemaker-api-key-'" in caught.value.response.json()["Message"]


def test_inference_component_route(demo_server) -> None:
    components = ("chat-ic",)
    with emulator_for(demo_server.url, openai_forward="v1", inference_components=components) as url:
        good = client_for(url, "--inference-component", "chat-ic")
        assert "/inference-components/chat-ic/openai/v1" in str(good.base_url)
        answer = good.chat.completions.create(model="", messages=ASK, max_tokens=4)
        assert answer.choices[0].message.content
        with pytest.raises(openai.BadRequestError) as missing:
            client_for(url).chat.completions.create(model="", messages=ASK, max_tokens=4)
        assert "name one with InferenceComponentName" in missing.value.response.json()["Message"]
        with pytest.raises(openai.BadRequestError) as unknown:
            client_for(url, "--inference-component", "other-ic").chat.completions.create(
                model="", messages=ASK, max_tokens=4
            )
        assert "other-ic not found" in unknown.value.response.json()["Message"]


def test_default_forward_is_invocations_with_the_clients_accept(serve_demo) -> None:
    """Where the route reaches /invocations with the client's own Accept (application/json),
    a container serving SSE by default (`--stream-format sse`) still streams to the client."""
    sse_server = serve_demo("transformers", "--stream-format", "sse")
    with emulator_for(sse_server.url) as url:
        stream = client_for(url).chat.completions.create(
            model="", messages=ASK, max_tokens=6, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_check_passes_on_the_route(demo_server) -> None:
    """`check --openai-route`: every rule of the wire contract, SSE framing on the route."""
    with emulator_for(demo_server.url, openai_forward="v1") as url:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
        cmd = [sys.executable, "-m", "sagemaker_openai.cli", "check", "--endpoint", "demo"]
        cmd += ["--endpoint-url", url, "--region", "us-east-1", "--openai-route", "--json"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert report["target"] == f"OpenAI route {url}/endpoints/demo/openai/v1"
    failed = [r for r in report["results"] if not r["passed"]]
    assert failed == [] and done.returncode == 0
    assert len(report["results"]) > 30


def test_check_sees_jsonl_on_the_route_as_a_failure(demo_server) -> None:
    """A container that answers the route with jsonl (the default forward, a jsonl default)
    fails exactly the framing rules: what the `openai` client could not parse."""
    with emulator_for(demo_server.url) as url:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
        cmd = [sys.executable, "-m", "sagemaker_openai.cli", "check", "--endpoint", "demo"]
        cmd += ["--endpoint-url", url, "--region", "us-east-1", "--openai-route", "--json"]
        cmd += ["--rule", "stream.content_type", "--rule", "stream.jsonl_framing"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    results = json.loads(done.stdout)["results"]
    assert done.returncode == 1 and not any(r["passed"] for r in results)
    assert "not text/event-stream" in results[0]["evidence"][0]


def test_strands_openai_model_through_the_route(demo_server) -> None:
    """A Strands agent on OpenAIModel, pointed at the route with a token from `token`."""
    pytest.importorskip("strands", reason="strands-agents not installed (it pins openai < 3)")
    from strands import Agent
    from strands.models.openai import OpenAIModel

    with emulator_for(demo_server.url, openai_forward="v1") as url:
        exported = token_env(url)
        model = OpenAIModel(
            client_args={
                "api_key": exported["OPENAI_API_KEY"],
                "base_url": exported["OPENAI_BASE_URL"],
            },
            model_id="",
            params={"max_tokens": 16, "temperature": 0},
        )
        result = Agent(model=model, callback_handler=None)("What is the capital of France?")
    assert str(result).strip()
    assert result.stop_reason in ("end_turn", "max_tokens")
