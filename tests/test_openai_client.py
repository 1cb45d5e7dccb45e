"""The official openai client, unchanged, against /v1."""

import openai
import pytest


@pytest.fixture
def oai(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=120)


def test_non_streaming(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=20,
    )
    assert "Paris" in completion.choices[0].message.content
    assert completion.usage.completion_tokens > 0


def test_streaming_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage.completion_tokens > 0


def test_errors_raise_bad_request_with_param(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], temperature=5
        )
    assert caught.value.body["param"] == "temperature"
