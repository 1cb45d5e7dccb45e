"""Test helpers: emulators on real sockets, in front of the demo server or a fake container.

Imported by name (tests/ is on sys.path through its conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import boto3
import uvicorn
from botocore.config import Config
from live import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sagemaker_openai.emulator.app import EmulatorConfig, create_emulator_app


@contextlib.contextmanager
def serve_app(app: Callable) -> Iterator[str]:
    """Serve an ASGI app with uvicorn from a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def emulator_for(upstream: str, **options) -> Iterator[str]:
    with serve_app(create_emulator_app(EmulatorConfig(upstream, **options))) as url:
        yield url


def runtime_client(endpoint_url: str | None = None):
    """Unmodified boto3, with throwaway credentials (the emulator accepts any signature)."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def fake_container(chunks: list[bytes], *, ping: int = 200, break_after: bool = False) -> Starlette:
    """A stand-in for someone else's container: fixed chunks, a set /ping, or a dropped stream."""

    async def ping_route(request: Request) -> Response:
        return JSONResponse({}, status_code=ping)

    async def body() -> object:
        for chunk in chunks:
            yield chunk
            await asyncio.sleep(0.01)
        if break_after:
            raise RuntimeError("the container died mid-stream")  # uvicorn drops the connection

    async def invocations(request: Request) -> Response:
        echoed = {k: v for k, v in request.headers.items() if k.startswith(("x-amzn", "accept"))}
        if "echo" in request.headers.get("x-amzn-sagemaker-custom-attributes", ""):
            return JSONResponse(echoed)
        return StreamingResponse(
            body(), media_type="application/jsonlines", headers={"x-seen": "1"}
        )

    routes = [Route("/ping", ping_route), Route("/invocations", invocations, methods=["POST"])]
    return Starlette(routes=routes)


def reframing_proxy(upstream: str, mode: str) -> Starlette:
    """A fake of another vendor's server: our container's answers, streamed as SSE (`sse`) or
    with two chunks per write (`merge`)."""
    import httpx

    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        client = httpx.AsyncClient(base_url=upstream, timeout=120)
        outgoing = client.build_request(
            "POST", "/invocations", content=await request.body(), headers={"Accept": "*/*"}
        )
        answer = await client.send(outgoing, stream=True)
        if "jsonlines" not in answer.headers.get("content-type", ""):
            body = await answer.aread()
            await client.aclose()
            kind = answer.headers.get("content-type", "")
            return Response(body, status_code=answer.status_code, media_type=kind)

        async def reframed() -> object:
            pending = b""
            async for line in answer.aiter_lines():
                if mode == "sse":
                    yield b"data: " + line.encode() + b"\n\n"
                elif pending:
                    yield pending + line.encode() + b"\n"
                    pending = b""
                else:
                    pending = line.encode() + b"\n"
            yield b"data: [DONE]\n\n" if mode == "sse" else pending
            await client.aclose()

        kind = "text/event-stream" if mode == "sse" else "application/jsonlines"
        return StreamingResponse(reframed(), media_type=kind)

    async def models(request: Request) -> Response:  # passed on as they are
        async with httpx.AsyncClient(base_url=upstream, timeout=120) as client:
            answer = await client.get(request.url.path)
        kind = answer.headers.get("content-type", "")
        return Response(answer.content, status_code=answer.status_code, media_type=kind)

    routes = [
        Route("/ping", ping),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/v1/models{rest:path}", models),
    ]
    return Starlette(routes=routes)
