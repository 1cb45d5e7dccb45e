"""serve, demo-model and emulate: build settings, engine, app and the HTTP server."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .aws import aws_session
from .usage import UsageError, fail

if TYPE_CHECKING:  # imported where used, so `--help` and the AWS commands start fast
    from ..chat import ChatService
    from ..emulator.app import EmulatorConfig
    from ..model_folder import ModelSource
    from ..settings import Settings
    from .usage import Commands


def add_commands(commands: Commands) -> None:
    _add_serve(commands)
    _add_demo_model(commands)
    _add_emulate(commands)


def _add_serve(commands: Commands) -> None:
    from ..settings import ENV, Settings

    p = commands.add_parser("serve", help="serve a model on /ping and /invocations (and /v1)")
    for f in dataclasses.fields(Settings):
        default = f.metadata.get("default", f.default)
        env = f"env {ENV[f.name]}; " if f.name in ENV else ""
        # argparse formats help with %: a literal percent sign is written %%
        help_text = f"{f.metadata['help']} [{env}{default}]".replace("%", "%%")
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif f.name == "stream_format":
            p.add_argument(flag, choices=["jsonl", "sse"], help=help_text)
        else:
            p.add_argument(flag, type=_FLAG_TYPES.get(str(f.type), str), help=help_text)
    p.add_argument(
        "--emulator-port",
        type=int,
        help="also serve a local SageMaker Runtime API on this port, forwarding to this server",
    )
    p.add_argument(
        "--endpoint-name",
        action="append",
        help="endpoint name(s) the emulator answers to (repeatable; default demo)",
    )
    _add_emulator_flags(p)
    p.set_defaults(func=_serve)


_FLAG_TYPES: dict[str, Callable[[str], object]] = {
    "int": int,
    "int | None": int,
    "float": float,
    "Path": Path,
}


def _serve(args: argparse.Namespace) -> int:
    from ..engines import resolve_engine_name
    from ..model_folder import ModelFolderError, resolve_model
    from ..settings import load_settings

    try:
        settings = load_settings(vars(args))
        resolve_engine_name(settings.engine)  # an unknown name fails now, not after loading
        source = resolve_model(settings.model, settings.cache_dir)
        # Listen before the heavier imports: connections queue from the first few milliseconds.
        sock = _listen(settings.host, settings.port, "--port")
        emulator_sock = args.emulator_port and _listen(
            settings.host, args.emulator_port, "--emulator-port"
        )
        config = _emulator_config(args, f"http://127.0.0.1:{settings.port}")
    except (ValueError, ModelFolderError, UsageError) as e:
        return fail(e, status=1)
    if emulator_sock:
        from ..emulator.app import describe_emulator, start_emulator_thread

        start_emulator_thread(config, sock=emulator_sock)
        print(describe_emulator(config, settings.host, args.emulator_port), file=sys.stderr)
    if not _run_server(settings, source, sock):
        print("error: the model failed to load (see the log above)", file=sys.stderr)
        return 1
    return 0


def _run_server(settings: Settings, source: ModelSource, sock: socket.socket) -> bool:
    """Serve until interrupted: the model loads in the background. False if it failed to."""
    import logging

    from ..engines import resolve_engine_name
    from ..serving.http_server import DrainingServer, uvicorn_config
    from ..serving.server import create_app

    engine_name = resolve_engine_name(settings.engine)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    served_name = settings.served_model_name or source.name
    logging.getLogger(__name__).info(
        "serving %s (%s) with the %s engine", served_name, settings.model, engine_name
    )
    failed: list[bool] = []

    def stop() -> None:
        failed.append(True)
        server.should_exit = True

    app = create_app(settings, service_builder(settings, source), on_load_failure=stop)
    config = uvicorn_config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        keep_alive_s=settings.keep_alive_s,
    )
    server = DrainingServer(config, app.state.runtime, settings.drain_grace_s)
    server.run(sockets=[sock])
    return not failed


def service_builder(settings: Settings, source: ModelSource) -> Callable[[], ChatService]:
    """What the server calls, in a worker thread, to load the model: service.py's builder, and
    then the start-up heap frozen (settle_heap)."""
    from ..service import build_service

    served_name = settings.served_model_name or source.name

    def build() -> ChatService:
        service = build_service(settings, source.locate(), served_name=served_name)
        settle_heap()
        return service

    return build


def settle_heap() -> None:
    """Everything loaded so far (torch, the engine, the model's Python objects: millions of
    objects) is moved out of the garbage collector's sight, as `vllm serve` does once it has
    started (vllm 0.32.0, utils/gc_utils.py: freeze_gc_heap). Otherwise the first full
    collection under load walks all of it (370-440 ms here) while streams wait: in three of
    four first bursts of 64 requests after start-up, the last first chunk reached its client
    0.6-3.4 s after the engine made it (60 ms once frozen; 40 ms for vllm serve). Only this
    server process does it: a test process that loads many engines would keep the frozen
    ones' cycles for good."""
    gc.collect()
    gc.freeze()


def _listen(host: str, port: int, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        raise UsageError(
            f"cannot listen on {host}:{port} ({e.strerror}): stop what uses that port, "
            f"or choose another with {flag}"
        ) from None


def _add_emulate(commands: Commands) -> None:
    p = commands.add_parser("emulate", help="serve the SageMaker Runtime API locally")
    p.add_argument("--host", default="127.0.0.1", help="bind address [127.0.0.1]")
    p.add_argument("--port", type=int, default=8081, help="port [8081]")
    p.add_argument("--upstream", default="http://127.0.0.1:8080", help="the container's URL")
    p.add_argument(
        "--endpoint-name", action="append", help="endpoint name (repeatable; default demo)"
    )
    p.add_argument(
        "--fault",
        choices=["none", "split", "merge"],
        default="none",
        help="split: each container chunk over two parts; merge: two chunks in one part",
    )
    _add_emulator_flags(p)
    p.set_defaults(func=_emulate)


def _add_emulator_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inference-component",
        action="append",
        default=[],
        help="an inference component on the endpoint (repeatable); calls must then name one",
    )
    p.add_argument(
        "--adapter-component",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="a LoRA adapter component (repeatable): registered with the container as NAME, "
        "and calls naming NAME reach it with that adapter",
    )
    p.add_argument(
        "--openai-forward",
        choices=["invocations", "invocations-sse", "openai", "v1"],
        default="invocations",
        help="where the OpenAI route reaches the container (AWS leaves it open; see docs)",
    )
    p.add_argument(
        "--verify-tokens",
        action="store_true",
        help="verify bearer tokens' signatures with the AWS credentials found here",
    )
    p.add_argument("--async-output-path", help="s3://... : serve InvokeEndpointAsync, write here")
    p.add_argument("--async-failure-path", help="s3://... : where failed async invocations go")
    p.add_argument("--s3-endpoint-url", help="a local S3 (e.g. moto_server) for async inference")


def _emulator_config(args: argparse.Namespace, upstream: str) -> EmulatorConfig:
    from ..emulator.app import EmulatorConfig

    credentials = None
    if args.verify_tokens:
        found = aws_session(None).get_credentials()
        if found is None:
            raise SystemExit("error: --verify-tokens: no AWS credentials found")
        credentials = (found.access_key, found.secret_key)
    return EmulatorConfig(
        upstream,
        tuple(args.endpoint_name or ["demo"]),
        getattr(args, "fault", "none"),
        inference_components=tuple(args.inference_component),
        adapter_components=tuple(_adapter_component(a) for a in args.adapter_component),
        openai_forward=args.openai_forward,
        credentials=credentials,
        async_output_path=args.async_output_path,
        async_failure_path=args.async_failure_path,
        s3_endpoint_url=args.s3_endpoint_url,
    )


def _adapter_component(flag: str) -> tuple[str, str]:
    name, _, folder = flag.partition("=")
    if not name or not folder:
        raise UsageError(f"--adapter-component takes NAME=FOLDER, not {flag!r}")
    return name, str(Path(folder).expanduser().resolve())


def _emulate(args: argparse.Namespace) -> int:
    from ..emulator.app import describe_emulator, run_emulator

    try:
        config = _emulator_config(args, args.upstream)
        sock = _listen(args.host, args.port, "--port")
    except UsageError as e:
        return fail(e, status=1)
    print(describe_emulator(config, args.host, args.port), file=sys.stderr)
    run_emulator(config, sock=sock)
    return 0


def _add_demo_model(commands: Commands) -> None:
    p = commands.add_parser("demo-model", help="provision the demo model and print its folder")
    p.add_argument("--cache-dir", help="where to keep it")
    p.set_defaults(func=_demo_model)


def _demo_model(args: argparse.Namespace) -> int:
    from ..demo import ensure_demo_model
    from ..settings import load_settings

    settings = load_settings(vars(args))
    print(ensure_demo_model(settings.cache_dir))
    return 0
