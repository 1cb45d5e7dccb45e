"""InvokeEndpointAsync through the emulator with unmodified boto3, against the real demo server,
with moto's S3 server (moto 5) standing in for S3."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from local_sagemaker import emulator_for, free_port, runtime_client
from moto.server import ThreadedMotoServer

BUCKET = "async-bucket"
ASK = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6}


@pytest.fixture(scope="module")
def s3_url():
    with pytest.MonkeyPatch.context() as env:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "x")):
            env.setenv(name, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        url = f"http://127.0.0.1:{port}"
        s3(url).create_bucket(Bucket=BUCKET)
        yield url
        server.stop()


def s3(url: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1")


@pytest.fixture(scope="module")
def emulator(demo_server, s3_url):
    with emulator_for(
        demo_server.url,
        async_output_path=f"s3://{BUCKET}/async-out",
        async_failure_path=f"s3://{BUCKET}/async-failures",
        s3_endpoint_url=s3_url,
    ) as url:
        yield url


def wait_for(s3_url: str, response: dict, timeout_s: float = 300) -> tuple[str, bytes]:
    """Poll both locations, as AWS's own samples do; returns which one appeared, and its bytes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for kind in ("OutputLocation", "FailureLocation"):
            bucket, key = response[kind].removeprefix("s3://").split("/", 1)
            try:
                return kind, s3(s3_url).get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3(s3_url).exceptions.NoSuchKey:
                pass
        time.sleep(0.5)
    raise AssertionError(f"nothing at {response['OutputLocation']} after {timeout_s} s")


def test_input_from_s3_output_where_sagemaker_writes_it(emulator: str, s3_url: str) -> None:
    s3(s3_url).put_object(Bucket=BUCKET, Key="in/ask.json", Body=json.dumps(ASK))
    response = runtime_client(emulator).invoke_endpoint_async(
        EndpointName="demo",
        InputLocation=f"s3://{BUCKET}/in/ask.json",
        ContentType="application/json",
        InferenceId="job-1",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "job-1"
    assert response["OutputLocation"] == f"s3://{BUCKET}/async-out/job-1.out"
    assert response["FailureLocation"] == f"s3://{BUCKET}/async-failures/job-1-error.out"
    kind, data = wait_for(s3_url, response)
    assert kind == "OutputLocation"
    completion = json.loads(data)
    assert completion["object"] == "chat.completion" and completion["choices"][0]["message"]


def test_inline_body_and_a_generated_id(emulator: str, s3_url: str) -> None:
    response = runtime_client(emulator).invoke_endpoint_async(
        EndpointName="demo", Body=json.dumps(ASK), ContentType="application/json"
    )
    inference_id = response["InferenceId"]
    assert response["OutputLocation"].endswith(f"/async-out/{inference_id}.out")
    assert wait_for(s3_url, response)[0] == "OutputLocation"


def test_a_bad_request_lands_in_the_failure_path(emulator: str, s3_url: str) -> None:
    response = runtime_client(emulator).invoke_endpoint_async(
        EndpointName="demo", Body=json.dumps({**ASK, "temperature": 5})
    )
    kind, data = wait_for(s3_url, response)
    assert kind == "FailureLocation"
    message = json.loads(data)["message"]
    assert "(400)" in message and "temperature" in message


def test_both_or_neither_input_is_a_validation_error(emulator: str) -> None:
    client = runtime_client(emulator)
    with pytest.raises(client.exceptions.ValidationError, match="exactly one"):
        client.invoke_endpoint_async(
            EndpointName="demo", Body=b"{}", InputLocation=f"s3://{BUCKET}/x"
        )


def test_a_realtime_endpoint_refuses_async_calls(demo_server) -> None:
    with emulator_for(demo_server.url) as url:
        client = runtime_client(url)
        with pytest.raises(client.exceptions.ValidationError, match="not an asynchronous"):
            client.invoke_endpoint_async(EndpointName="demo", InputLocation=f"s3://{BUCKET}/x")


def test_an_async_endpoint_answers_a_stream_request_whole(serve_demo, s3_url: str) -> None:
    """Served with --async-endpoint, `"stream": true` gets one chat.completion in S3."""
    server = serve_demo("transformers", "--async-endpoint")
    with emulator_for(
        server.url,
        async_output_path=f"s3://{BUCKET}/whole",
        async_failure_path=f"s3://{BUCKET}/whole-failed",
        s3_endpoint_url=s3_url,
    ) as url:
        body = {**ASK, "stream": True, "stream_options": {"include_usage": True}}
        response = runtime_client(url).invoke_endpoint_async(
            EndpointName="demo", Body=json.dumps(body), ContentType="application/json"
        )
        kind, data = wait_for(s3_url, response)
    assert kind == "OutputLocation"
    completion = json.loads(data)
    assert completion["object"] == "chat.completion"
    assert completion["usage"]["completion_tokens"] > 0
