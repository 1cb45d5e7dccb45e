"""InvokeEndpointAsync: take the request, answer 202 at once, invoke the container in the
background, and write its answer where SageMaker writes it (the output or the failure path).

Input comes from S3 (`InputLocation`) or inline (`Body`, up to 128,000 bytes; botocore >= 1.43.29).
S3 is whatever `s3_endpoint_url` points at: moto's server in the tests, real S3 otherwise.
Object names: `<S3OutputPath>[/<S3OutputPathExtension>]/<Filename or InferenceId>.out` and
`<S3FailurePath>/<InferenceId>-error.out` (AWS documents the file as "based on the inference
ID"; the exact suffixes follow AWS's examples and are marked unverified in docs/).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .client_io import read_body
from .endpoint import Emulator
from .errors import ServiceError, validation_error

INLINE_LIMIT = 128_000  # bytes of an inline Body
DEFAULT_TIMEOUT_S = 900  # InvocationTimeoutSeconds when not given
_S3_URI = re.compile(r"^(?:s3|https)://([^/]+)/?(.*)$")
_H = "X-Amzn-SageMaker-"

log = logging.getLogger("sagemaker_openai.emulator")


class AsyncInvocations:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.tasks: set[asyncio.Task[None]] = set()  # held so they are not collected mid-run

    async def invoke(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        config = self.emulator.config
        try:
            name = request.path_params["name"]
            self.emulator.check_endpoint(name)
            if config.async_output_path is None:
                raise validation_error(
                    f"Endpoint {name} is not an asynchronous endpoint (no AsyncInferenceConfig)."
                )
            body = await read_body(request, INLINE_LIMIT)
            location = request.headers.get(_H + "InputLocation")
            if bool(body) == bool(location):
                raise validation_error("Provide exactly one of Body and InputLocation.")
            if location and not _S3_URI.match(location):
                raise validation_error(f"InputLocation {location!r} is not an S3 URI.")
            timeout = int(request.headers.get(_H + "InvocationTimeoutSeconds", DEFAULT_TIMEOUT_S))
        except ServiceError as error:
            return error.to_response(request_id)
        inference_id = request.headers.get(_H + "Inference-Id") or str(uuid.uuid4())
        output = _join(
            config.async_output_path,
            request.headers.get(_H + "S3OutputPathExtension", ""),
            request.headers.get(_H + "Filename") or f"{inference_id}.out",
        )
        failure = (
            _join(config.async_failure_path, f"{inference_id}-error.out")
            if config.async_failure_path
            else None
        )
        headers = _container_headers(request.headers, inference_id)
        job = self._run(name, body, location, headers, timeout, output, failure)
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        reply = {"x-amzn-RequestId": request_id, _H + "OutputLocation": output}
        if failure:
            reply[_H + "FailureLocation"] = failure
        return JSONResponse({"InferenceId": inference_id}, status_code=202, headers=reply)

    async def _run(
        self,
        name: str,
        body: bytes,
        location: str | None,
        headers: dict[str, str],
        timeout: int,
        output: str,
        failure: str | None,
    ) -> None:
        """Invoke the container once, then write the whole answer or the failure."""
        try:
            if location:
                body = await asyncio.to_thread(self._get, location)
            await self._wait_ready(name, timeout)
            upstream = await self.emulator.send(name, body, headers, timeout_s=timeout)
            content = await upstream.aread()
            await upstream.aclose()
            content_type = upstream.headers.get("content-type", "application/octet-stream")
            await asyncio.to_thread(self._put, output, content, content_type)
        except ServiceError as error:
            await self._fail(failure, error.message)
        except Exception as error:  # an emulator fault (S3 unreachable...) is a failure too
            log.exception("async invocation failed")
            await self._fail(failure, f"Internal failure: {error!r}")

    async def _wait_ready(self, name: str, timeout: int) -> None:
        """A queued request waits for the container, as SageMaker's queue does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.emulator.check_ready(name)
                return
            except ServiceError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _fail(self, failure: str | None, message: str) -> None:
        if failure is None:
            log.warning(
                "async invocation failed and the endpoint has no S3FailurePath: %s", message
            )
            return
        payload = json.dumps({"message": message}).encode()
        try:
            await asyncio.to_thread(self._put, failure, payload, "application/json")
        except Exception:
            log.exception("could not write the failure of an async invocation to %s", failure)

    def _s3(self) -> Any:
        import boto3

        config = self.emulator.config
        session = boto3.Session(region_name=config.region)
        key = None
        if config.s3_endpoint_url and session.get_credentials() is None:
            key = "local"  # a local S3 (moto) takes any signature; real S3 needs the caller's
        return session.client(
            "s3",
            endpoint_url=config.s3_endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key=key,
        )

    def _get(self, uri: str) -> bytes:
        bucket, key = _split(uri)
        try:
            body: bytes = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
        except Exception as error:
            raise ServiceError(400, "ValidationError", f"Could not read {uri}: {error}") from None

    def _put(self, uri: str, data: bytes, content_type: str) -> None:
        bucket, key = _split(uri)
        self._s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def _container_headers(incoming: Any, inference_id: str) -> dict[str, str]:
    """What the container gets: the same headers as InvokeEndpoint, by their plain names."""
    headers = {"X-Amzn-SageMaker-Inference-Id": inference_id}
    for plain, given in (
        ("Content-Type", _H + "Content-Type"),
        ("Accept", _H + "Accept"),
        (_H + "Custom-Attributes", _H + "Custom-Attributes"),
    ):
        if given in incoming:
            headers[plain] = incoming[given]
    return headers


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def _split(uri: str) -> tuple[str, str]:
    match = _S3_URI.match(uri)
    if match is None:
        raise ValueError(f"not an S3 URI: {uri}")
    return match.group(1), match.group(2)
