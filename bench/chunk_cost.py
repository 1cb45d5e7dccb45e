"""CPU this runtime's own process spends per streamed chunk, measured so that load elsewhere on
the machine does not move it much (CPU time, not wall time).

  python -m bench.chunk_cost replay [--requests 300] [--format jsonl] [--profile out.prof]
    In-process, no socket: the real demo model's Steps are recorded once (transformers engine,
    greedy, bench/prompts.json), then replayed through the whole ASGI app (/invocations:
    request parsing, chat.py, answer.py, streaming.py, serving/invocation.py, serving/server.py,
    Starlette's StreamingResponse) one request after another. Reports process CPU per request
    and per chunk, and the stream's share (from the response head to its last byte).
  python -m bench.chunk_cost server --system runtime_vllm [--requests 96 --concurrency 8]
    A real server process with its real engine, driven over HTTP by this process; reports the
    CPU of the server's main thread (the event loop: HTTP, JSON, chat layer; in vLLM's API
    server also its output processing) and of its whole process (engine core children
    excluded) per chunk received. runtime_vllm and vllm_serve run the same engine in a child
    process, so their API processes compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from . import systems
from .measure import MAX_TOKENS, Timing, http_sender
from .systems import REPO, free_port, running_server, server_command

PROMPTS = REPO / "bench" / "prompts.json"
CLOCK_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _bodies(fmt: str) -> list[bytes]:
    prompts = json.loads(PROMPTS.read_text())["prompts"]
    return [
        json.dumps(
            {"messages": p["messages"], "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
        ).encode()
        for p in prompts
    ]


STEPS = Path("/tmp/sagemaker-openai-bench-steps.json")  # recorded once, replayed many times


class Replay:
    """The real model's card and tokenizer; `generate` replays the Steps the engine recorded."""

    def __init__(self, model_dir: Path, steps: dict[str, list[Any]]):
        from transformers import AutoTokenizer

        from sagemaker_openai.engines.base import Step
        from sagemaker_openai.engines.tokenizer import Encoder, model_card

        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._encode = Encoder(self._tokenizer)
        self._steps = {k: [Step(*s) for s in v] for k, v in steps.items()}
        self.card = model_card(self._tokenizer, name="demo", context_length=8192)
        self.adapters, self.running, self.alive = None, 0, True

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return self._encode(text, special)

    async def generate(self, prompt: list[int], params: Any) -> AsyncIterator[Any]:
        for step in self._steps[_key(prompt)]:
            yield step

    def check_guided(self, guided: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _key(prompt: list[int]) -> str:
    return ",".join(map(str, prompt))


async def _record(model_dir: Path, out: Path) -> None:
    """Each prompt's Steps from the real transformers engine, greedy, as JSON."""
    from sagemaker_openai.chat import ChatService
    from sagemaker_openai.engines.base import EngineOptions
    from sagemaker_openai.engines.transformers import load
    from sagemaker_openai.protocol import parse_request

    engine = load(model_dir, served_name="demo", options=EngineOptions(device="cpu"))
    chat = ChatService(engine)
    steps: dict[str, list[Any]] = {}
    for body in _bodies("jsonl"):
        plan = chat.plan(parse_request(body))
        steps[_key(plan.prompt)] = [
            (s.text, s.completion_tokens, s.finish_reason)
            async for s in engine.generate(plan.prompt, plan.choices[0])
        ]
    out.write_text(json.dumps(steps))


async def _asgi_request(app: Any, body: bytes, fmt: str, marks: list[float]) -> list[bytes]:
    """POST /invocations straight into the ASGI app, as uvicorn calls it (ASGI spec 2.3)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-sagemaker-custom-attributes", f"stream_format={fmt}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    received = False
    forever = asyncio.Event()
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await forever.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            marks.append(time.process_time())
        elif message.get("body"):
            out.append(message["body"])
        elif not message.get("more_body"):
            marks.append(time.process_time())

    await app(scope, receive, send)
    return out


async def _replay(args: argparse.Namespace) -> dict[str, Any]:
    from sagemaker_openai.demo import ensure_demo_model
    from sagemaker_openai.service import chat_service
    from sagemaker_openai.serving.server import create_app
    from sagemaker_openai.settings import load_settings

    settings = load_settings({})
    model_dir = ensure_demo_model(settings.cache_dir)
    if not args.steps.is_file():
        await _record(model_dir, args.steps)
    replay = Replay(model_dir, json.loads(args.steps.read_text()))
    app = create_app(settings, lambda: chat_service(replay, settings))  # as serve builds it
    bodies = _bodies(args.format)
    async with _lifespan(app):
        while app.state.runtime.chat is None:
            await asyncio.sleep(0.01)
        for body in bodies * 3:  # warm-up
            await _asgi_request(app, body, args.format, [])
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        rounds: list[tuple[float, float, int]] = []  # (CPU s, stream CPU s, chunks) per round
        digest: list[bytes] = []
        for _ in range(args.rounds):
            marks: list[float] = []
            chunks = 0
            started = time.process_time()
            for i in range(args.requests):
                out = await _asgi_request(app, bodies[i % len(bodies)], args.format, marks)
                chunks += len(out)
                if len(digest) < len(bodies):
                    digest.append(b"".join(out))
            total = time.process_time() - started
            pairs = zip(marks[::2], marks[1::2], strict=True)
            rounds.append((total, sum(end - start for start, end in pairs), chunks))
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
    per_chunk = sorted(t / n * 1e6 for t, _, n in rounds)
    stream = sorted(s / n * 1e6 for _, s, n in rounds)
    return {
        "method": "process CPU time (time.process_time), in-process ASGI, replayed real Steps; "
        "min and median over rounds (the min is the least disturbed by other load)",
        "format": args.format,
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "chunks_per_round": rounds[0][2],
        "cpu_us_per_request_min": round(min(t for t, _, _ in rounds) / args.requests * 1e6, 1),
        "cpu_us_per_chunk_min": round(per_chunk[0], 2),
        "cpu_us_per_chunk_median": round(statistics.median(per_chunk), 2),
        "stream_cpu_us_per_chunk_min": round(stream[0], 2),
        "stream_cpu_us_per_chunk_median": round(statistics.median(stream), 2),
        "profiled": bool(profile),
        "answers_sha256": hashlib.sha256(b"".join(map(_normalized, digest))).hexdigest(),
        "load_average": os.getloadavg(),
    }


def _normalized(raw: bytes) -> bytes:
    """The stream with its per-request id and time blanked, to compare runs byte for byte."""
    return re.sub(rb'"created":\d+', b'"created":0', re.sub(rb"chatcmpl-[0-9a-f]+", b"", raw))


class _lifespan:
    def __init__(self, app: Any):
        self._app = app
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self._app(scope, self._queue.get, self._sent.put))
        await self._queue.put({"type": "lifespan.startup"})
        await self._sent.get()

    async def __aexit__(self, *exc: object) -> None:
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._sent.get()
        assert self._task is not None
        await self._task


def _thread_cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of a thread (tid) or of a whole process (its threads; not its children)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S


async def _drive(url: str, path: str, requests: int, concurrency: int) -> int:
    prompts = json.loads(PROMPTS.read_text())["prompts"]
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0)) as client:
        send = http_sender(url, path, prompts, client)
        await send(0, Timing(start=0.0))  # warm-up
        counter = iter(range(requests))
        timings: list[Timing] = []

        async def worker() -> None:
            for i in counter:
                timing = Timing(start=time.perf_counter())
                timings.append(timing)
                await send(i % len(prompts), timing)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return sum(len(t.arrivals) for t in timings)


def _server(args: argparse.Namespace) -> dict[str, Any]:
    from sagemaker_openai.demo import ensure_demo_model
    from sagemaker_openai.settings import load_settings

    model_dir = ensure_demo_model(load_settings({}).cache_dir)
    port = free_port()
    command = server_command(args.system, model_dir, port)
    if args.system == "vllm_serve":  # the small KV cache this shared machine allows
        command[command.index("--kv-cache-memory-bytes") + 1] = str(args.kv_cache_gib << 30)
        command += ["--enforce-eager"] if args.eager else []
    path = "/v1/chat/completions" if args.system == "vllm_serve" else "/invocations"
    env = dict(os.environ, SMOAI_KV_CACHE_GIB=str(args.kv_cache_gib))
    if args.eager and args.system == "runtime_vllm":
        env["SMOAI_ENFORCE_EAGER"] = "1"
    log = Path(f"/tmp/chunk-cost-{args.system}-{port}.log")
    systems.READY_TIMEOUT_S = args.ready_timeout
    with running_server(command, log, env) as server:
        pid = int(_pid_on_port(port))
        asyncio.run(_drive(server.url, path, 3, 1))  # warm-up, not counted
        main0, all0 = _thread_cpu_s(pid, pid), _thread_cpu_s(pid)
        wall = time.perf_counter()
        chunks = asyncio.run(_drive(server.url, path, args.requests, args.concurrency))
        wall = time.perf_counter() - wall
        main = _thread_cpu_s(pid, pid) - main0
        whole = _thread_cpu_s(pid) - all0
    return {
        "method": "server process CPU (utime+stime from /proc), main thread and whole process",
        "system": args.system,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "chunks": chunks,
        "wall_s": round(wall, 1),
        "main_thread_cpu_us_per_chunk": round(main / chunks * 1e6, 1),
        "process_cpu_us_per_chunk": round(whole / chunks * 1e6, 1),
        "load_average": os.getloadavg(),
    }


def _pid_on_port(port: int) -> str:
    """The process listening on `port` (the server, not a launcher in front of it)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
            inode = parts[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    raise RuntimeError(f"no process listens on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chunk_cost")
    sub = parser.add_subparsers(dest="mode", required=True)
    replay = sub.add_parser("replay")
    replay.add_argument("--requests", type=int, default=30, help="per round")
    replay.add_argument("--rounds", type=int, default=10)
    replay.add_argument("--format", choices=["jsonl", "sse"], default="jsonl")
    replay.add_argument("--profile", help="write a cProfile of the measured requests here")
    replay.add_argument("--steps", type=Path, default=STEPS, help="recorded Steps (made if absent)")
    server = sub.add_parser("server")
    server.add_argument("--system", choices=["runtime_transformers", "runtime_vllm", "vllm_serve"])
    server.add_argument("--requests", type=int, default=96)
    server.add_argument("--concurrency", type=int, default=8)
    server.add_argument("--eager", action="store_true", help="vLLM without compilation")
    server.add_argument("--kv-cache-gib", type=int, default=1, help="vLLM's KV cache on CPU")
    server.add_argument("--ready-timeout", type=float, default=1800, help="seconds to start")
    args = parser.parse_args()
    result = asyncio.run(_replay(args)) if args.mode == "replay" else _server(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
