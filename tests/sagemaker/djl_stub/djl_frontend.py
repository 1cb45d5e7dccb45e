"""DJL Serving's side of a Python-engine model, reproduced to drive a handler in tests.

Rewritten from deepjavalibrary/djl-serving (tags v0.29.0, v0.35.0, v0.36.0):
- sync mode (every version; the default): engines/python/setup/djl_python/python_sync_engine.py
  `run_server` calls `handle(inputs)` once per request and `Output.send`s the result; the Java
  `Connection.OutputDecoder` (engines/python/src/main/java/ai/djl/python/engine/Connection.java)
  turns each stream frame into one chunk, and `InferenceRequestHandler.sendOutput`
  (serving/src/main/java/ai/djl/serving/http/) writes each chunk as one HTTP chunk.
- async mode (`option.async_mode=true`, v0.35.0 and later): python_async_engine.py awaits
  `handle(inputs)` on one event loop, so requests run concurrently; a handler returns an Output
  or an async generator of Outputs whose one content item is `Output.binary_encode({"data",
  "last", "code", "error"})`. AsyncRequestManager.java and Request.java (`addResponse`) turn
  them into chunks: an empty `data` that is not `last` is dropped; a `code` replaces the body
  with DJL's `{"code": ..., "error": ...}`; an Output whose own code is not 200 becomes DJL's
  "Async Inference Failure" body.
Only what reaches the HTTP client is modelled: status, headers, and the chunks in order.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
import types
from dataclasses import dataclass, field

from djl_python import Input, Output


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)  # one per HTTP write; empty ones unsent
    times: list[float] = field(default_factory=list)  # time.monotonic() each chunk was sent

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def request_input(body: bytes | None, model_dir: str, properties: dict | None = None) -> Input:
    """The Input DJL builds for an HTTP request (body under "data"), or for its start-up call."""
    inputs = Input()
    inputs.function_name = "handle"
    inputs.properties = {"Content-Type": "application/json", **(properties or {})}
    if body is not None:
        inputs.content.append(("data", bytearray(body)))
    inputs.properties["model_dir"] = model_dir  # ModelService.invoke_handler sets it
    return inputs


class SyncFrontend:
    """DJL's default: one request at a time per worker, streams pulled through Output.send."""

    def __init__(self, module, model_dir: str):
        self.module = module
        self.model_dir = model_dir
        # DJL's first call at start-up: the properties and no content
        self._call(request_input(None, model_dir))

    def invoke(self, body: bytes, properties: dict | None = None) -> Response:
        output = self._call(request_input(body, self.model_dir, properties))
        return _http(*_decode(_wire(output)))

    def _call(self, inputs: Input) -> Output:
        try:
            outputs = self.module.handle(inputs)
            if outputs is None:
                return Output(code=204, message="No content")
            if not isinstance(outputs, Output):
                return Output().error(f"Invalid output type: {type(outputs)}")
            return outputs
        except Exception as e:  # python_sync_engine.run_server does the same
            return Output().error(str(e))


class AsyncFrontend:
    """`option.async_mode=true`: one event loop, handlers awaited concurrently."""

    def __init__(self, module, model_dir: str):
        self.module = module
        self.model_dir = model_dir
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._outputs(request_input(None, model_dir)))  # start-up call, answer unused

    def invoke(self, body: bytes, properties: dict | None = None) -> Response:
        """Thread-safe: call from several threads to have DJL serve requests concurrently."""
        outputs = self._run(self._outputs(request_input(body, self.model_dir, properties)))
        return _async_http(outputs)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _outputs(self, inputs: Input) -> list[tuple]:
        """PythonAsyncEngine.invoke_handler: every Output sent, decoded as the frontend reads it."""
        try:
            outputs = await self.module.handle(inputs)
        except Exception as e:
            outputs = Output().error(str(e), message="service.invoke_handler_async() failure")
        if outputs is None:
            outputs = Output(code=204, message="No content")
        elif not isinstance(outputs, (Output, types.AsyncGeneratorType)):
            outputs = Output().error(f"Invalid type returned from handle: {type(outputs)}")
        if isinstance(outputs, types.AsyncGeneratorType):
            return [(time.monotonic(), _decode(_wire(o))) async for o in outputs]
        return [(time.monotonic(), _decode(_wire(outputs)))]


def _wire(output: Output) -> bytes:
    """What Output.send writes to DJL's socket."""
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=lambda: (output.send(a), a.shutdown(socket.SHUT_WR)))
        sender.start()
        data = bytearray()
        while chunk := b.recv(65536):
            data += chunk
        sender.join()
    return bytes(data)


def _decode(msg: bytes):
    """Connection.OutputDecoder: (code, message, properties, content items, stream chunks)."""
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, msg, pos)
        pos += struct.calcsize(fmt)
        return value

    def utf8() -> str | None:
        nonlocal pos
        n = take(">i")
        if n < 0:
            return None
        pos += n
        return msg[pos - n : pos].decode("utf-8")

    def blob() -> bytes:
        nonlocal pos
        n = take(">i")
        pos += n
        return msg[pos - n : pos]

    code, message = take(">h"), utf8()
    props = {utf8(): utf8() for _ in range(take(">h"))}
    size = take(">h")
    if size != -1:
        return code, message, props, [(utf8(), blob()) for _ in range(size)], None
    chunks = []
    more = True
    while more:
        more = take(">b") == 1
        chunks.append(blob())  # the last frame: empty, or str(exception) on a failure
    assert pos == len(msg), "bytes after the end of the stream"
    return code, message, props, None, chunks


def _http(code, message, props, content, chunks) -> Response:
    """InferenceRequestHandler.sendOutput for a sync-mode Output."""
    if chunks is None:
        return Response(code, dict(props), [content[0][1]] if content else [])
    return Response(code, dict(props), [c for c in chunks if c])


def _async_http(outputs: list[tuple]) -> Response:
    """AsyncRequestManager.addOutput and Request.addResponse, then sendOutput."""
    response = Response(200, {})
    headers, chunks = response.headers, response.chunks
    for sent, (code, message, props, content, _) in outputs:
        if code != 200:  # sendErrorResponse: DJL's own body, the handler's content is lost
            body = {"code": code, "message": f"Async Inference Failure {message}"}
            return Response(code, headers, [json.dumps(body).encode()])
        headers.update(props)
        fields = _binary_decode(content[0][1])
        last = fields.get("last", "").lower() == "true"
        data = fields.get("data")
        if not data and not last:
            continue  # "in non-streaming cases, we do not return content until finished"
        if "code" in fields:
            response.status = int(fields["code"])
            body = {"code": response.status}
            if "error" in fields:
                body["error"] = fields["error"]
            chunks.append(json.dumps(body).encode())
            response.times.append(sent)
        elif data:
            chunks.append(data.encode("utf-8"))
            response.times.append(sent)
        if last:
            return response
    raise AssertionError("the handler never sent a last chunk: DJL would wait forever")


def _binary_decode(buf: bytes) -> dict[str, str]:
    (size,) = struct.unpack_from(">h", buf, 0)
    pos, fields = 2, {}
    for _ in range(size):
        items = []
        for _ in range(2):
            (n,) = struct.unpack_from(">i", buf, pos)
            items.append(buf[pos + 4 : pos + 4 + n].decode("utf-8"))
            pos += 4 + n
        fields[items[0]] = items[1]
    return fields
