"""The lmi handler in DJL's sync and async modes, through the DJL stand-in, with engine auto.

    PYTHONPATH=src .venv/bin/python -m bench.djl_modes sync|async

Streams of 64 tokens, one request and then 4 at once (sync mode serves them one after the
other, as DJL's sync Python engine does). Results: bench/results/djl-modes-2026-11-24.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "messages": [{"role": "user", "content": "Write a long story about a cat."}],
    "max_tokens": 64,
    "temperature": 0.7,
    "stream": True,
}


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "sagemaker" / "djl_stub"))
    os.environ.setdefault("SMOAI_ENFORCE_EAGER", "true")
    os.environ.setdefault("SMOAI_KV_CACHE_GIB", "1")
    import djl_frontend

    from sagemaker_openai.demo import ensure_demo_model
    from sagemaker_openai.sagemaker.package import build_package

    mode = sys.argv[1]
    tmp = Path(tempfile.mkdtemp(prefix="djl-modes-"))
    out = tmp / "opt-ml-model"
    tarball = build_package(
        ensure_demo_model(Path.home() / ".cache" / "sagemaker-openai"),
        "lmi",
        tmp / "model.tar.gz",
        "demo-served",
    )
    with tarfile.open(tarball) as tar:
        tar.extractall(out, filter="fully_trusted")
    spec = importlib.util.spec_from_file_location(f"model_{mode}", out / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    kind = djl_frontend.AsyncFrontend if mode == "async" else djl_frontend.SyncFrontend
    frontend = kind(module, str(out))
    print(mode, "engine:", type(module._service.engine).__name__)
    body = json.dumps(BODY).encode()
    frontend.invoke(body)  # warm-up
    for n in (1, 4):
        start = time.monotonic()
        if mode == "async":
            with ThreadPoolExecutor(n) as pool:
                responses = list(pool.map(frontend.invoke, [body] * n))
        else:
            responses = [frontend.invoke(body) for _ in range(n)]
        wall = time.monotonic() - start
        chunks = sum(len(r.chunks) - 2 for r in responses)  # less the role and final chunks
        print(f"{mode} n={n}: {wall:.1f} s, {chunks} content chunks, {chunks / wall:.1f} chunks/s")
    module._service.engine.close()
    os._exit(0)  # vLLM's engine process is gone; skip its atexit logging


if __name__ == "__main__":
    main()
