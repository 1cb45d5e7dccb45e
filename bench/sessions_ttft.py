"""A second turn's time to first token, in a SageMaker session and without one.

Starts the real server (vllm engine, stateful sessions on) behind the emulator, and with unmodified
boto3 streams three kinds of second turn, alternating, N times each:
  session  the turn in a session opened for the conversation, right after its first turn
  none     the same shape of turn, no session header, right after its own first turn
  cold     the same shape of turn whose long first turn the engine has never seen
Run: .venv/bin/python bench/sessions_ttft.py [--rounds 5]  (writes bench/results/sessions-ttft.json)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from local_sagemaker import emulator_for, free_port  # noqa: E402

CONTEXT_WORDS = 300  # a long first turn (~3,000 tokens), so a cached prefix is worth something


def context(seed: str) -> str:
    words = [f"{seed}-{i % 97}" for i in range(CONTEXT_WORDS)]
    return "Remember these notes: " + " ".join(words)


def second_turn(rt: SageMakerRuntimeClient, seed: str, session: str | None) -> float:
    """First turn (not timed), then the second turn's seconds to its first content chunk."""
    messages = [{"role": "user", "content": context(seed)}]
    first = rt.invoke_endpoint(
        EndpointName="demo",
        Body=json.dumps({"messages": messages, "max_tokens": 16, "temperature": 0}),
        **({"SessionId": session} if session else {}),
    )
    answer = json.loads(first["Body"].read())["choices"][0]["message"]["content"]
    messages += [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Now say the first note again."},
    ]
    body = {"messages": messages, "max_tokens": 8, "temperature": 0, "stream": True}
    return _ttft(rt, body, session)


def cold_turn(rt: SageMakerRuntimeClient, seed: str) -> float:
    """The same second turn, its first turn never sent: nothing of it is cached."""
    messages = [
        {"role": "user", "content": context(seed)},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Now say the first note again."},
    ]
    body = {"messages": messages, "max_tokens": 8, "temperature": 0, "stream": True}
    return _ttft(rt, body, None)


def _ttft(rt: SageMakerRuntimeClient, body: dict[str, Any], session: str | None) -> float:
    """Seconds from sending a stream request to its first chunk with content."""
    started = time.perf_counter()
    extra = {"SessionId": session} if session else {}
    stream = rt.invoke_endpoint_with_response_stream(
        EndpointName="demo", Body=json.dumps(body), **extra
    )
    elapsed = None
    for event in stream["Body"]:
        for line in event["PayloadPart"]["Bytes"].splitlines():
            choices = json.loads(line)["choices"] if line.strip() else []
            if elapsed is None and choices and choices[0]["delta"].get("content"):
                elapsed = time.perf_counter() - started
    if elapsed is None:
        raise RuntimeError("no content in the stream")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engine", default="vllm")
    args = parser.parse_args()
    port = free_port()
    cmd = [sys.executable, "-m", "sagemaker_openai.cli", "serve", "--model", "demo"]
    cmd += ["--engine", args.engine, "--port", str(port), "--stateful-sessions"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while not _ready(url):
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(2)
        with emulator_for(url) as emulator:
            rt = boto3.client(
                "sagemaker-runtime",
                endpoint_url=emulator,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            cold_turn(rt, "warmup")  # compile and warm the engine once
            times: dict[str, list[float]] = {"session": [], "none": [], "cold": []}
            for _ in range(args.rounds):
                opened = rt.invoke_endpoint(
                    EndpointName="demo",
                    SessionId="NEW_SESSION",
                    Body=json.dumps({"requestType": "NEW_SESSION"}),
                )
                session = opened["NewSessionId"].split(";")[0]
                times["session"].append(second_turn(rt, uuid.uuid4().hex[:6], session))
                times["none"].append(second_turn(rt, uuid.uuid4().hex[:6], None))
                times["cold"].append(cold_turn(rt, uuid.uuid4().hex[:6]))
    finally:
        server.terminate()
        server.wait(timeout=60)
    result = {
        "engine": args.engine,
        "rounds": args.rounds,
        "context_words": CONTEXT_WORDS,
        "ttft_ms_median": {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()},
        "ttft_ms": {k: [round(x * 1000, 1) for x in v] for k, v in times.items()},
    }
    out = ROOT / "bench" / "results" / "sessions-ttft.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ttft_ms_median"]))


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
