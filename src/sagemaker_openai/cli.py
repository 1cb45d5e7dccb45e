"""The command line: the only place that builds things (settings, engine, app). No logic here."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so `--help` and the AWS commands start fast
    from .engines.base import Engine
    from .model_folder import ModelSource
    from .settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def sagemaker_serve() -> int:
    """The `serve` executable SageMaker runs: `docker run IMAGE serve`, SageMaker's defaults."""
    argv = [a for a in sys.argv[1:] if a != "serve"]
    return main(["serve", *argv])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagemaker-openai",
        description="Serve chat models on SageMaker in the exact OpenAI Chat Completions format.",
    )
    commands = parser.add_subparsers(metavar="COMMAND")
    _add_serve(commands)
    _add_demo_model(commands)
    _add_emulate(commands)
    _add_invoke(commands)
    _add_chat(commands)
    _add_check(commands)
    _add_package(commands)
    _add_deploy(commands)
    _add_delete(commands)
    _add_status(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction) -> None:
    from .settings import ENV, Settings

    p = commands.add_parser("serve", help="serve a model on /ping and /invocations (and /v1)")
    for f in dataclasses.fields(Settings):
        default = f.metadata.get("default", f.default)
        help_text = f"{f.metadata['help']} [env {ENV[f.name]}; {default}]"
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
    p.set_defaults(func=_serve)


_FLAG_TYPES: dict[str, Callable[[str], object]] = {
    "int": int,
    "int | None": int,
    "float": float,
    "Path": Path,
}


def _serve(args: argparse.Namespace) -> int:
    from .model_folder import ModelFolderError, resolve_model
    from .settings import load_settings

    try:
        settings = load_settings(vars(args))
        source = resolve_model(settings.model, settings.cache_dir)
    except (ValueError, ModelFolderError) as e:
        return _fail(e, status=1)
    # Listen before the heavier imports: connections queue from the first few milliseconds.
    sock = _listen(settings.host, settings.port)
    if args.emulator_port:
        from .emulator.app import EmulatorConfig, describe_emulator, start_emulator_thread

        upstream = f"http://127.0.0.1:{settings.port}"
        config = EmulatorConfig(upstream, tuple(args.endpoint_name or ["demo"]))
        start_emulator_thread(config, settings.host, args.emulator_port)
        print(describe_emulator(config, settings.host, args.emulator_port), file=sys.stderr)
    if not _run_server(settings, source, sock):
        print("error: the model failed to load (see the log above)", file=sys.stderr)
        return 1
    return 0


def _run_server(settings: Settings, source: ModelSource, sock: socket.socket) -> bool:
    """Serve until interrupted: the model loads in the background. False if it failed to."""
    import logging

    import uvicorn

    from .engines import load_engine, resolve_engine_name
    from .engines.base import EngineOptions
    from .server import create_app

    engine_name = resolve_engine_name(settings.engine)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    served_name = settings.served_model_name or source.name
    logging.getLogger(__name__).info(
        "serving %s (%s) with the %s engine", served_name, settings.model, engine_name
    )
    options = EngineOptions(
        num_gpus=settings.num_gpus,
        kv_cache_gib=settings.kv_cache_gib,
        max_model_len=settings.max_model_len,
        enforce_eager=settings.enforce_eager,
        device=settings.device,
        dtype=settings.dtype,
        gpu_memory_utilization=settings.gpu_memory_utilization,
    )
    failed: list[bool] = []

    def stop() -> None:
        failed.append(True)
        server.should_exit = True

    def load() -> Engine:
        return load_engine(
            settings.engine, source.locate(), served_name=served_name, options=options
        )

    app = create_app(settings, load, on_load_failure=stop)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return not failed


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def _add_emulate(commands: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_emulate)


def _emulate(args: argparse.Namespace) -> int:
    from .emulator.app import EmulatorConfig, describe_emulator, run_emulator

    config = EmulatorConfig(args.upstream, tuple(args.endpoint_name or ["demo"]), args.fault)
    print(describe_emulator(config, args.host, args.port), file=sys.stderr)
    run_emulator(config, args.host, args.port)
    return 0


def _add_demo_model(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo-model", help="provision the demo model and print its folder")
    p.add_argument("--cache-dir", help="where to keep it [env SMOAI_CACHE_DIR]")
    p.set_defaults(func=_demo_model)


def _demo_model(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_model
    from .settings import load_settings

    settings = load_settings(vars(args))
    print(ensure_demo_model(settings.cache_dir))
    return 0


def _add_endpoint_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--endpoint", required=required, help="SageMaker endpoint name")
    p.add_argument(
        "--endpoint-url",
        help="SageMaker Runtime URL, e.g. the emulator's http://127.0.0.1:8081 "
        "[env AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME]",
    )
    p.add_argument("--region", help="AWS region [AWS_REGION / your AWS profile]")


def _add_request_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, default=256, help="completion token limit [256]")
    p.add_argument("--temperature", type=float, help="sampling temperature [the model's]")
    p.add_argument("--system", help="a system message")


def _endpoint_client(args: argparse.Namespace):
    from .endpoint.client import EndpointClient

    return EndpointClient(args.endpoint, region=args.region, endpoint_url=args.endpoint_url)


def _sampling(args: argparse.Namespace) -> dict:
    values = {"max_tokens": args.max_tokens, "temperature": args.temperature}
    return {k: v for k, v in values.items() if v is not None}


def _add_invoke(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("invoke", help="send one chat request to an endpoint")
    _add_endpoint_flags(p)
    _add_request_flags(p)
    p.add_argument("message", help="the user message ('-' reads standard input)")
    p.add_argument("--stream", action="store_true", help="stream the answer as it is generated")
    p.add_argument("--raw", action="store_true", help="print the JSON (one line per chunk)")
    p.set_defaults(func=_invoke)


def _invoke(args: argparse.Namespace) -> int:
    from .endpoint.console import invoke

    message = sys.stdin.read() if args.message == "-" else args.message
    system = [{"role": "system", "content": args.system}] if args.system else []
    request = {**_sampling(args), "messages": [*system, {"role": "user", "content": message}]}
    return invoke(_endpoint_client(args), request, stream=args.stream, raw=args.raw, out=sys.stdout)


def _add_chat(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("chat", help="chat with an endpoint in the terminal")
    _add_endpoint_flags(p)
    _add_request_flags(p)
    p.set_defaults(func=_chat)


def _chat(args: argparse.Namespace) -> int:
    from .endpoint.console import chat

    client = _endpoint_client(args)
    return chat(client, _sampling(args), system=args.system, read=input, out=sys.stdout)


def _add_check(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "check", help="check an endpoint (or a container by --url) against the wire contract"
    )
    _add_endpoint_flags(p, required=False)
    p.add_argument("--url", help="a container's base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--rule", action="append", help="run only rules starting with this (e.g. stream.)"
    )
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from .endpoint.check.report import format_report, run_check
    from .endpoint.exchange import ContainerTarget, EndpointTarget

    if bool(args.url) == bool(args.endpoint):
        print("error: give exactly one of --endpoint NAME or --url URL", file=sys.stderr)
        return 2
    target = ContainerTarget(args.url) if args.url else EndpointTarget(_endpoint_client(args))
    results = run_check(target, args.rule or ())
    print(format_report(results, target, args.json))
    return 0 if all(r.passed for r in results) else 1


def _add_package(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("package", help="build a model.tar.gz for SageMaker")
    p.add_argument("--model", required=True, help="model folder, or 'demo'")
    p.add_argument(
        "--target",
        default="image",
        choices=["image", "hf-dlc", "lmi"],
        help="image: own container; hf-dlc: Hugging Face DLC; lmi: DJL LMI [image]",
    )
    p.add_argument("-o", "--output", default="model.tar.gz", help="tarball path [model.tar.gz]")
    p.add_argument("--cache-dir", help="where the demo model lives [env SMOAI_CACHE_DIR]")
    p.set_defaults(func=_package)


def _package(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sagemaker.errors import DeployError
    from .sagemaker.package import build_package, resolve_model_dir
    from .settings import load_settings

    try:
        model_dir = resolve_model_dir(args.model, load_settings(vars(args)).cache_dir)
        out = build_package(model_dir, args.target, Path(args.output), model_dir.name)
    except DeployError as e:
        return _fail(e)
    print(out)
    return 0


def _add_aws(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", help="AWS region [AWS_REGION or the configured one]")


def _add_deploy(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("deploy", help="create or update a SageMaker endpoint")
    p.add_argument("--model", required=True, help="model folder, 'demo', or s3://.../model.tar.gz")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--instance-type", required=True, help="e.g. ml.g5.xlarge")
    p.add_argument("--role", default="", help="IAM role ARN SageMaker assumes (required)")
    p.add_argument(
        "--target",
        default="lmi",
        choices=["image", "hf-dlc", "lmi"],
        help="packaging target [lmi]; image needs --image-uri",
    )
    p.add_argument("--image-uri", help="container image [per target and region, documented]")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--autoscale", metavar="MIN:MAX", help="target-tracking instance autoscaling")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="container environment, repeatable",
    )
    p.add_argument("--bucket", help="S3 bucket for model data [sagemaker-REGION-ACCOUNT]")
    p.add_argument("--dry-run", action="store_true", help="print the plan, call nothing")
    p.add_argument("--no-wait", action="store_true", help="do not wait for InService")
    p.add_argument("--cache-dir", help="where the demo model lives [env SMOAI_CACHE_DIR]")
    _add_aws(p)
    p.set_defaults(func=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from .sagemaker.deploy import TerminalProgress, deploy
    from .sagemaker.errors import DeployError
    from .sagemaker.plan import DeployOptions
    from .settings import load_settings

    try:
        session = _session(args.region)
        opts = DeployOptions(
            model=args.model,
            endpoint_name=args.endpoint_name,
            instance_type=args.instance_type,
            role=args.role,
            region=session.region_name or "",
            target=args.target,
            image_uri=args.image_uri,
            instance_count=args.instance_count,
            autoscale=args.autoscale,
            env=tuple(args.env),
            bucket=args.bucket,
            wait=not args.no_wait,
            cache_dir=load_settings(vars(args)).cache_dir,
        )
        client = None if args.dry_run else _client(session)
        deploy(opts, client, sys.stdout, TerminalProgress(), dry_run=args.dry_run)
    except DeployError as e:
        return _fail(e)
    return 0


def _add_delete(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("delete", help="delete an endpoint and what deploy made for it")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--keep-model", action="store_true", help="keep the model and its S3 data")
    _add_aws(p)
    p.set_defaults(func=_delete)


def _delete(args: argparse.Namespace) -> int:
    from .sagemaker.endpoints import delete
    from .sagemaker.errors import DeployError

    try:
        for item in delete(_client(_session(args.region)), args.endpoint_name, args.keep_model):
            print(f"deleted {item}")
    except DeployError as e:
        return _fail(e)
    return 0


def _add_status(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("status", help="endpoint status, instance type and count")
    p.add_argument("name", nargs="?", help="endpoint name [all endpoints]")
    _add_aws(p)
    p.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from .sagemaker.endpoints import format_status, status
    from .sagemaker.errors import DeployError

    try:
        print(format_status(status(_client(_session(args.region)), args.name)))
    except DeployError as e:
        return _fail(e)
    return 0


def _session(region: str | None):  # -> boto3.Session
    import boto3

    return boto3.Session(region_name=region)


def _client(session):  # -> SageMakerClient
    from .sagemaker.client import SageMakerClient

    return SageMakerClient(session)


def _fail(error: Exception, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
