"""The emulator, called by unmodified boto3, in front of the real demo server."""

from __future__ import annotations

import json

import botocore.exceptions
import httpx
import pytest
from live import post_raw
from local_sagemaker import emulator_for, fake_container, runtime_client, serve_app

from sagemaker_openai.emulator.eventstream import decode_frame, encode_payload_part

HELLO = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6}


@pytest.fixture(scope="module")
def emulator(demo_server):
    with emulator_for(demo_server.url, endpoint_names=("demo", "other")) as url:
        yield url


def test_invoke_endpoint_returns_the_containers_answer(emulator: str) -> None:
    response = runtime_client(emulator).invoke_endpoint(
        EndpointName="other", Body=json.dumps(HELLO), ContentType="application/json"
    )
    completion = json.loads(response["Body"].read())
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"]
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_stream_through_env_var_gives_one_whole_chunk_per_part(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emulator)
    response = runtime_client().invoke_endpoint_with_response_stream(
        EndpointName="demo", Body=json.dumps({**HELLO, "stream": True})
    )
    assert response["ContentType"] == "application/jsonlines"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert len(parts) >= 3  # role chunk, at least one token, final chunk
    for part in parts:
        assert part.endswith(b"\n") and part.count(b"\n") == 1
        assert json.loads(part)["object"] == "chat.completion.chunk"
    assert json.loads(parts[-1])["choices"][0]["finish_reason"] in ("stop", "length")


def test_custom_attributes_choose_sse_in_the_container(emulator: str) -> None:
    response = runtime_client(emulator).invoke_endpoint_with_response_stream(
        EndpointName="demo",
        Body=json.dumps({**HELLO, "stream": True}),
        CustomAttributes="stream_format=sse",
    )
    assert response["ContentType"].startswith("text/event-stream")
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert all(part.startswith(b"data: ") for part in parts)
    assert parts[-1] == b"data: [DONE]\n\n"


def test_each_http_chunk_is_one_whole_frame(emulator: str) -> None:
    body = json.dumps({**HELLO, "stream": True}).encode()
    raw = post_raw(emulator, "/endpoints/demo/invocations-response-stream", body)
    assert raw.status == 200
    assert raw.headers["transfer-encoding"] == "chunked"
    assert raw.headers["content-type"] == "application/vnd.amazon.eventstream"
    frames = [decode_frame(chunk) for chunk in raw.chunks]  # raises unless each is whole
    assert all(f.headers[":event-type"] == "PayloadPart" for f in frames)
    assert all(json.loads(f.payload)["object"] == "chat.completion.chunk" for f in frames)


def test_frames_are_byte_exact_on_the_wire() -> None:
    with serve_app(fake_container([b'{"a":1}\n'])) as container, emulator_for(container) as url:
        raw = post_raw(url, "/endpoints/demo/invocations-response-stream", b"{}")
    assert raw.chunks == [encode_payload_part(b'{"a":1}\n')]
    assert len(raw.chunks[0]) == 113
    assert raw.chunks[0][:12].hex() == "0000007100000059b327ff46"
    assert raw.chunks[0][-4:].hex() == "29969631"


def test_sagemaker_headers_are_forwarded_to_the_container() -> None:
    components = ("component-1",)
    with (
        serve_app(fake_container([])) as container,
        emulator_for(container, inference_components=components) as url,
    ):
        response = runtime_client(url).invoke_endpoint(
            EndpointName="demo",
            Body=b"{}",
            Accept="application/json",
            CustomAttributes="echo=1",
            TargetVariant="AllTraffic",
            InferenceId="inference-7",
            InferenceComponentName="component-1",
        )
        stream = httpx.post(
            f"{url}/endpoints/demo/invocations-response-stream",
            content=b"{}",
            headers={
                "X-Amzn-SageMaker-Accept": "text/event-stream",
                "X-Amzn-SageMaker-Custom-Attributes": "echo",
                "X-Amzn-SageMaker-Inference-Component": "component-1",
            },
        )
    seen = json.loads(response["Body"].read())
    assert seen["x-amzn-sagemaker-custom-attributes"] == "echo=1"
    assert seen["x-amzn-sagemaker-target-variant"] == "AllTraffic"
    assert seen["x-amzn-sagemaker-inference-id"] == "inference-7"
    assert seen["x-amzn-sagemaker-inference-component"] == "component-1"
    assert seen["accept"] == "application/json"
    assert stream.status_code == 200  # the stream call's Accept arrives as Accept
    echoed = json.loads(decode_frame(stream.content).payload)
    assert echoed["accept"] == "text/event-stream"
    assert "accept-encoding" not in echoed


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_endpoint_is_a_validation_error(emulator: str, stream: bool) -> None:
    error = _call_error(emulator, "nope", json.dumps(HELLO).encode(), stream)
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "nope" in error.response["Error"]["Message"]


@pytest.mark.parametrize("stream", [False, True])
def test_body_over_6_mib_is_a_validation_error(emulator: str, stream: bool) -> None:
    body = json.dumps({**HELLO, "pad": "x" * (6 * 1024 * 1024)}).encode()
    error = _call_error(emulator, "demo", body, stream)
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("stream", [False, True])
def test_container_error_is_a_model_error_with_its_status_and_body(
    emulator: str, stream: bool
) -> None:
    body = json.dumps({**HELLO, "temperature": 5, "stream": stream}).encode()
    error = _call_error(emulator, "demo", body, stream)
    assert type(error).__name__ == "ModelError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.response["OriginalStatusCode"] == 400
    original = json.loads(error.response["OriginalMessage"])
    assert original["error"]["param"] == "temperature"
    assert error.response["LogStreamArn"].startswith("arn:aws:logs:")


def test_container_not_pinging_200_is_model_not_ready() -> None:
    with serve_app(fake_container([], ping=503)) as container, emulator_for(container) as url:
        error = _call_error(url, "demo", b"{}", stream=True)
    assert type(error).__name__ == "ModelNotReadyException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_stream_broken_by_the_container_is_an_in_stream_model_stream_error() -> None:
    fake = fake_container([b'{"n":1}\n'], break_after=True)
    with serve_app(fake) as container, emulator_for(container) as url:
        response = runtime_client(url).invoke_endpoint_with_response_stream(
            EndpointName="demo", Body=b"{}"
        )
        events = iter(response["Body"])
        assert next(events) == {"PayloadPart": {"Bytes": b'{"n":1}\n'}}
        with pytest.raises(botocore.exceptions.EventStreamError) as caught:
            next(events)
    assert caught.value.response["Error"]["Code"] == "ModelStreamError"
    assert "stream broke" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize("fault", ["split", "merge"])
def test_fault_modes_reshape_parts(fault: str) -> None:
    chunks = [b'{"n":1}\n', b'{"n":2}\n', b'{"n":3}\n']
    with (
        serve_app(fake_container(chunks)) as container,
        emulator_for(container, fault=fault) as url,
    ):
        response = runtime_client(url).invoke_endpoint_with_response_stream(
            EndpointName="demo", Body=b"{}"
        )
        parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert b"".join(parts) == b"".join(chunks)
    if fault == "split":
        assert parts == [b'{"n"', b":1}\n", b'{"n"', b":2}\n", b'{"n"', b":3}\n"]
    else:
        assert parts == [b'{"n":1}\n{"n":2}\n', b'{"n":3}\n']


def _call_error(url: str, name: str, body: bytes, stream: bool) -> botocore.exceptions.ClientError:
    client = runtime_client(url)
    call = client.invoke_endpoint_with_response_stream if stream else client.invoke_endpoint
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        response = call(EndpointName=name, Body=body)
        list(response["Body"])
    return caught.value
