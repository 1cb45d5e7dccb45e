"""A per-request trace of the vLLM servers, loaded by Python at start-up from PYTHONPATH:
`TRACE_FILE=/tmp/t.jsonl PYTHONPATH=bench/trace .venv/bin/python -m bench.burst --streams 64`.

Without TRACE_FILE it does nothing. With it, every process of both servers (this runtime's
vllm engine and `vllm serve`, which share uvicorn's httptools protocol and vLLM's AsyncLLM)
appends one JSON line per event, [wall time, pid, event, ...]:
- "body": a request's body has arrived (uvicorn 0.38, HttpToolsProtocol.on_message_complete);
- "gen", request id: the API process hands it to AsyncLLM.generate (vllm 0.32.0,
  v1/engine/async_llm.py); "first": its first output came back;
- "core_add", request id, prompt tokens: the engine-core process takes it in
  (v1/engine/core.py, EngineCore.add_request);
- "sched", new requests, tokens, running, waiting: each step the scheduler plans
  (v1/core/sched/scheduler.py, Scheduler.schedule);
- "gc2", ms: a full garbage collection and how long it took.
`python -m bench.trace FILE` prints the timeline of each burst. Patches apply as each module
is first imported, so nothing is imported here that the process would not import itself.
"""

from __future__ import annotations

import gc
import importlib.abc
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

PATH = os.environ.get("TRACE_FILE")


def log(*fields: object) -> None:
    assert PATH is not None
    with open(PATH, "a") as f:
        f.write(json.dumps([time.time(), os.getpid(), *fields]) + "\n")


def _patch_uvicorn(module: ModuleType) -> None:
    cls = module.HttpToolsProtocol
    original = cls.on_message_complete

    def on_message_complete(self: Any) -> None:
        log("body")
        original(self)

    cls.on_message_complete = on_message_complete


def _patch_async_llm(module: ModuleType) -> None:
    cls = module.AsyncLLM
    original = cls.generate

    async def generate(
        self: Any, prompt: Any, params: Any, request_id: str, *a: Any, **k: Any
    ) -> AsyncIterator[Any]:
        log("gen", request_id)
        inner = original(self, prompt, params, request_id, *a, **k)
        first = True
        try:
            async for output in inner:
                if first:
                    log("first", request_id)
                    first = False
                yield output
        finally:
            await inner.aclose()  # an early close aborts the request, as without the trace

    cls.generate = generate


def _patch_core(module: ModuleType) -> None:
    cls = module.EngineCore
    original = cls.add_request

    def add_request(self: Any, request: Any, *a: Any, **k: Any) -> Any:
        log("core_add", request.request_id, len(request.prompt_token_ids or ()))
        return original(self, request, *a, **k)

    cls.add_request = add_request


def _patch_scheduler(module: ModuleType) -> None:
    cls = module.Scheduler
    original = cls.schedule

    def schedule(self: Any, *a: Any, **k: Any) -> Any:
        out = original(self, *a, **k)
        new, tokens = len(out.scheduled_new_reqs), out.total_num_scheduled_tokens
        log("sched", new, tokens, len(self.running), len(self.waiting))
        return out

    cls.schedule = schedule


HOOKS: dict[str, Callable[[ModuleType], None]] = {
    "uvicorn.protocols.http.httptools_impl": _patch_uvicorn,
    "vllm.v1.engine.async_llm": _patch_async_llm,
    "vllm.v1.engine.core": _patch_core,
    "vllm.v1.core.sched.scheduler": _patch_scheduler,
}


class _Patcher(importlib.abc.MetaPathFinder):
    """Finds a hooked module as the other finders would, and patches it once it has run."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None:
                    break
        else:
            return None
        loader: Any = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            HOOKS[name](module)

        loader.exec_module = exec_module
        return spec


_collecting: list[float] = []


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _collecting[:] = [time.perf_counter()]
    elif info["generation"] == 2 and _collecting:
        log("gc2", round((time.perf_counter() - _collecting[0]) * 1000, 1))


if PATH:
    gc.callbacks.append(_on_gc)
    sys.meta_path.insert(0, _Patcher())
