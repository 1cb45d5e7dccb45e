"""The container contract and OpenAI wire format, end to end: real server, real demo model."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from live import SEED_REQUEST, post_raw, start_server, stop, wait_ready

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


def chat(client: httpx.Client, path: str = "/invocations", **fields) -> httpx.Response:
    return client.post(path, json={"messages": CAPITAL, **fields})


def stream_chunks(url: str, headers: dict[str, str] | None = None, **fields):
    body = json.dumps({"messages": CAPITAL, "stream": True, **fields}).encode()
    return post_raw(url, "/invocations", body, headers)


def assert_chunk_rules(chunks: list[bytes], n: int = 1, usage: bool = False) -> list[dict]:
    """CONTRACT.md section 4, for jsonl; returns the parsed objects."""
    objects = []
    for raw in chunks:
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw  # one whole object per chunk
        assert not raw.startswith(b"data:")
        objects.append(json.loads(raw))
    heads = {(o["id"], o["created"], o["model"], o["system_fingerprint"]) for o in objects}
    assert len(heads) == 1
    assert all(o["object"] == "chat.completion.chunk" for o in objects)
    assert all(list(o)[-1] == "choices" for o in objects)
    body = objects[:-1] if usage else objects
    assert all(raw.rstrip(b"\n").endswith(b"}]}") for raw in chunks[: len(body)])
    for index in range(n):
        mine = [o["choices"][0] for o in body if o["choices"][0]["index"] == index]
        assert mine[0]["delta"] == {"role": "assistant", "content": ""}
        assert all(set(c) == {"index", "delta", "logprobs", "finish_reason"} for c in mine)
        assert all(c["finish_reason"] is None for c in mine[:-1])
        assert mine[-1]["delta"] == {"content": ""} and mine[-1]["finish_reason"] in (
            "stop",
            "length",
        )
    assert all(len(o["choices"]) == 1 for o in body)
    if usage:
        assert all("usage" in o and o["usage"] is None for o in body)  # as OpenAI sends
        assert objects[-1]["choices"] == []
        keys = set(objects[-1]["usage"]) - {"prompt_tokens_details"}  # a prefix-cache hit adds it
        assert keys == {"prompt_tokens", "completion_tokens", "total_tokens"}
    else:
        assert all("usage" not in o for o in objects)
    return objects


def text_of(objects: list[dict], index: int = 0) -> str:
    return "".join(
        o["choices"][0]["delta"].get("content", "")
        for o in objects
        if o["choices"] and o["choices"][0]["index"] == index
    )


def test_ping(client: httpx.Client) -> None:
    assert client.get("/ping").status_code == 200


def test_seed_request_non_streaming_answers_with_exact_shape(client: httpx.Client) -> None:
    # seed 1 picks a short sampled answer (a ramble of 4000 tokens would take minutes here)
    response = client.post("/invocations", json={**SEED_REQUEST, "stream": False, "seed": 1})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == [
        "id", "object", "created", "model", "system_fingerprint", "choices", "usage"
    ]  # fmt: skip
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "SmolLM2-135M-Instruct"  # the served model, not the request's
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["logprobs"] is None and choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_answers_the_question_with_real_token_counts(client: httpx.Client, demo_model_dir):
    from transformers import AutoTokenizer

    body = chat(client, temperature=0, max_tokens=30).json()
    content = body["choices"][0]["message"]["content"]
    assert "Paris" in content
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    prompt = tokenizer.apply_chat_template(CAPITAL, add_generation_prompt=True, tokenize=False)
    assert body["usage"]["prompt_tokens"] == len(tokenizer.encode(prompt))
    # the completion's tokens plus the end-of-turn token that stopped it (as vLLM counts)
    assert body["usage"]["completion_tokens"] == len(tokenizer.encode(content)) + 1


def test_stream_follows_every_chunk_rule_one_object_per_http_chunk(base_url: str) -> None:
    response = stream_chunks(base_url, max_tokens=12, temperature=0)
    assert response.status == 200
    assert response.headers["content-type"] == "application/jsonlines"
    assert response.headers["transfer-encoding"] == "chunked"
    objects = assert_chunk_rules(response.chunks)
    assert "Paris" in text_of(objects)


def test_seed_request_streams(base_url: str) -> None:
    response = post_raw(base_url, "/invocations", json.dumps({**SEED_REQUEST, "seed": 1}).encode())
    assert_chunk_rules(response.chunks)


def test_usage_chunk_only_when_asked(base_url: str) -> None:
    response = stream_chunks(base_url, max_tokens=5, stream_options={"include_usage": True})
    objects = assert_chunk_rules(response.chunks, usage=True)
    usage = objects[-1]["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5
    assert_chunk_rules(stream_chunks(base_url, max_tokens=3).chunks, usage=False)


def test_sse_through_custom_attributes(base_url: str) -> None:
    response = stream_chunks(
        base_url,
        {"X-Amzn-SageMaker-Custom-Attributes": "stream_format=sse"},
        max_tokens=4,
        ignore_eos=True,  # four tokens always: a sampled end of turn would make it "stop"
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.chunks[-1] == b"data: [DONE]\n\n"
    for raw in response.chunks[:-1]:
        assert raw.startswith(b"data: {") and raw.endswith(b"}\n\n")
    objects = [json.loads(raw[6:]) for raw in response.chunks[:-1]]
    assert objects[0]["choices"][0]["delta"]["role"] == "assistant"
    assert objects[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("prompt", "holds"),
    [
        ("Repeat after me: café, naïve, jalapeño.", lambda text: "naïve" in text),
        # the exact emoji differs between fp32 and bf16 (the dtype follows the CPU): any emoji
        ("Write five emojis.", lambda text: any(ord(ch) >= 0x1F300 for ch in text)),
    ],
)
def test_unicode_deltas_are_whole_characters(
    base_url: str, prompt: str, holds: Callable[[str], bool]
) -> None:
    body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": 24}
    response = post_raw(base_url, "/invocations", json.dumps({**body, "stream": True}).encode())
    objects = assert_chunk_rules(response.chunks)
    deltas = [o["choices"][0]["delta"].get("content", "") for o in objects]
    # a cut at max_tokens inside a character drops its bytes rather than emit U+FFFD
    assert not any("\ufffd" in d for d in deltas)
    assert holds("".join(deltas))
    assert any(len(d.encode()) > len(d) for d in deltas)  # multi-byte characters were streamed


def test_stop_string_is_cut_and_not_included(client: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    full = client.post(
        "/invocations", json={"messages": messages, "temperature": 0, "max_tokens": 40}
    ).json()["choices"][0]["message"]["content"]
    assert "5" in full
    cut = client.post(
        "/invocations",
        json={"messages": messages, "temperature": 0, "max_tokens": 40, "stop": ["5"]},
    ).json()["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == full[: full.index("5")]


def test_max_tokens_gives_finish_reason_length(client: httpx.Client) -> None:
    story = [{"role": "user", "content": "Tell me a story."}]
    body = chat(client, max_tokens=3, ignore_eos=True, messages=story)  # never "stop" by luck
    choice = body.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert body.json()["usage"]["completion_tokens"] == 3


def test_max_completion_tokens_and_max_tokens_the_smaller_wins(client: httpx.Client) -> None:
    story = [{"role": "user", "content": "Tell me a story."}]
    body = chat(client, messages=story, max_tokens=9, max_completion_tokens=2).json()
    assert body["usage"]["completion_tokens"] == 2


def test_seed_repeats_and_temperature_zero_is_greedy(client: httpx.Client) -> None:
    """The README's guarantee, exactly: the same request with the same seed, alone on the server
    and with its prompt computed the same way, gives the same text. The first request caches the
    prompt's prefix, so the two compared both start from that cache (without it the first takes
    another numeric path, and in bf16 a near-tie token may differ: not a promise we make)."""
    poem = [{"role": "user", "content": "Write a short poem about the sea."}]
    fields = {"messages": poem, "max_tokens": 15, "temperature": 1.2, "top_p": 0.95}
    chat(client, **fields, seed=7)  # puts the prompt's prefix in the cache
    texts = {
        chat(client, **fields, seed=7).json()["choices"][0]["message"]["content"] for _ in "ab"
    }
    assert len(texts) == 1
    other = {
        chat(client, **fields, seed=s).json()["choices"][0]["message"]["content"] for s in (1, 2, 3)
    }
    assert len(other | texts) > 1  # different seeds sample differently
    greedy = {
        chat(client, messages=poem, max_tokens=10, temperature=0).json()["choices"][0]["message"][
            "content"
        ]
        for _ in "ab"
    }
    assert len(greedy) == 1


def test_n_choices_non_streaming(client: httpx.Client) -> None:
    body = chat(client, n=3, max_tokens=4, seed=1).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert (
        body["usage"]["completion_tokens"] == sum(4 for _ in range(3))
        or body["usage"]["completion_tokens"] <= 12
    )


def test_n_choices_streaming(base_url: str) -> None:
    response = stream_chunks(
        base_url, n=2, max_tokens=4, seed=3, stream_options={"include_usage": True}
    )
    objects = assert_chunk_rules(response.chunks, n=2, usage=True)
    assert {o["choices"][0]["index"] for o in objects if o["choices"]} == {0, 1}


@pytest.mark.parametrize("penalty", ["frequency_penalty", "presence_penalty"])
def test_penalties_change_the_sampled_text(client: httpx.Client, penalty: str) -> None:
    story = [{"role": "user", "content": "Tell me a story about a cat."}]
    fields = {"messages": story, "temperature": 1.0, "max_tokens": 24, "seed": 5}
    plain = chat(client, **fields).json()["choices"][0]["message"]["content"]
    penalised = chat(client, **fields, **{penalty: 2.0}).json()["choices"][0]["message"]["content"]
    assert plain != penalised


def test_content_parts_and_developer_role(client: httpx.Client) -> None:
    messages = [
        {"role": "developer", "content": "You answer in one word."},
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
    ]
    body = chat(client, messages=messages, temperature=0, max_tokens=10).json()
    assert "Paris" in body["choices"][0]["message"]["content"]


def test_leaked_client_settings_are_ignored_and_never_logged(demo_server, client) -> None:
    secret = "wJalrXUtnFEMI-NOT-A-REAL-KEY"
    response = chat(
        client,
        max_tokens=2,
        aws_secret_access_key=secret,
        aws_access_key_id="AKIDEXAMPLE",
        sagemaker_base_url="http://example/endpoints/x/invocations",
        presencePenalty=0.5,
    )
    assert response.status_code == 200
    time.sleep(0.2)
    log = demo_server.log_text()
    assert "aws_secret_access_key" in log and secret not in log and "AKIDEXAMPLE" not in log


def bad(**fields) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "x"}], **fields}).encode()


IMAGE_PART = {"type": "image_url", "image_url": {"url": "x"}}
BAD = [
    (b"{oops", None, None),
    (b"[1, 2]", None, None),
    (b'"a string"', None, None),
    (b"\xc3\x28 not utf-8", None, None),
    (b"{}", "messages", None),
    (b'{"messages": []}', "messages", None),
    (b'{"messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role", None),
    (b'{"messages": [{"role": "user", "content": {"a": 1}}]}', "messages[0].content", None),
    (bad(temperature=5), "temperature", None),
    (bad(max_tokens=0), "max_tokens", None),
    (bad(n=0), "n", None),
    (bad(top_logprobs=50), "top_logprobs", None),
    # both engines serve logprobs and logit_bias now (issue 12): these are bad values of them
    (bad(logprobs="yes"), "logprobs", None),
    (bad(logit_bias={"5": 101}), "logit_bias.5", None),
    (bad(tools=[{"type": "retrieval"}]), "tools[0].type", None),
    (bad(tool_choice="required"), "tool_choice", None),
    (
        bad(response_format={"type": "json_schema", "json_schema": {"schema": {"type": 5}}}),
        "response_format.json_schema.schema",
        None,
    ),
    (
        json.dumps({"messages": [{"role": "user", "content": [IMAGE_PART]}]}).encode(),
        "messages[0].content[0].type",
        None,
    ),
    (bad(max_tokens=9000), "messages", "context_length_exceeded"),
    (bad(stream_options={"include_usage": True}), "stream_options", None),
]


@pytest.mark.parametrize(("raw", "param", "code"), BAD)
def test_bad_input_gets_openai_error_and_server_keeps_serving(
    client: httpx.Client, raw: bytes, param: str | None, code: str | None
) -> None:
    response = client.post("/invocations", content=raw)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param
    if code:
        assert error["code"] == code
    assert "Traceback" not in response.text
    assert chat(client, max_tokens=1).status_code == 200


def test_prompt_longer_than_context(client: httpx.Client) -> None:
    long = " ".join(["history"] * 9000)
    response = client.post("/invocations", json={"messages": [{"role": "user", "content": long}]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_body_over_six_mib_is_413(client: httpx.Client) -> None:
    content = "x" * (6 * 1024 * 1024)
    response = client.post(
        "/invocations", json={"messages": [{"role": "user", "content": content}]}
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"]
    assert chat(client, max_tokens=1).status_code == 200


def test_unknown_route_is_openai_shaped_404(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.json()["error"]["message"]


def test_v1_models_names_the_served_model(client: httpx.Client) -> None:
    assert client.get("/v1/models").json()["data"][0]["id"] == "SmolLM2-135M-Instruct"
    card = client.get("/v1/models/SmolLM2-135M-Instruct").json()
    assert card == client.get("/v1/models").json()["data"][0]
    missing = client.get("/v1/models/org/other-model")  # an id may hold "/"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert missing.json()["error"]["param"] == "model"


def test_v1_streams_sse(base_url: str) -> None:
    body = json.dumps({"messages": CAPITAL, "stream": True, "max_tokens": 3}).encode()
    response = post_raw(base_url, "/v1/chat/completions", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.chunks[-1] == b"data: [DONE]\n\n"


def test_ping_stays_fast_while_eight_streams_run(base_url: str) -> None:
    story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    body = json.dumps({"messages": story, "stream": True, "max_tokens": 40}).encode()
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(post_raw(base_url, "/invocations", body)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)
    worst = 0.0
    host, port = base_url.removeprefix("http://").split(":")
    while any(t.is_alive() for t in threads):
        # a bare connection per ping: the time measured is the server's, not a client's set-up
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        started = time.perf_counter()
        conn.request("GET", "/ping")
        status = conn.getresponse().status
        worst = max(worst, time.perf_counter() - started)
        conn.close()
        assert status == 200
        time.sleep(0.3)
    for t in threads:
        t.join()
    assert worst < 2.0, f"/ping took {worst:.2f} s under load"
    assert len(results) == 8
    for response in results:
        assert_chunk_rules(response.chunks)


def test_ping_is_503_until_the_model_has_loaded(demo_model_dir, tmp_path) -> None:
    # the transformers engine: seconds of loading to see the 503 in (vLLM's compiled start
    # took 95 s of the suite for the same check)
    process, url, log = start_server(
        tmp_path, "--model", str(demo_model_dir), "--engine", "transformers"
    )
    try:
        deadline = time.monotonic() + 120  # generous: binding takes ~0.3 s, but CI may be busy
        first = None
        while first is None and time.monotonic() < deadline:
            try:
                first = httpx.get(f"{url}/ping", timeout=2)
            except httpx.TransportError:
                time.sleep(0.02)
        assert first is not None and first.status_code == 503
        assert first.json()["error"]["code"] == "model_not_ready"
        not_ready = httpx.post(f"{url}/invocations", json={"messages": CAPITAL}, timeout=5)
        assert not_ready.status_code in (503, 200)
        wait_ready(process, url, log)
    finally:
        stop(process)
