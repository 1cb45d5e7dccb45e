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
    _add_token(commands)
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
        env = f"env {ENV[f.name]}; " if f.name in ENV else ""
        help_text = f"{f.metadata['help']} [{env}{default}]"
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
    from .engines import resolve_engine_name
    from .model_folder import ModelFolderError, resolve_model
    from .settings import load_settings

    try:
        settings = load_settings(vars(args))
        resolve_engine_name(settings.engine)  # an unknown name fails now, not after loading
        source = resolve_model(settings.model, settings.cache_dir)
        # Listen before the heavier imports: connections queue from the first few milliseconds.
        sock = _listen(settings.host, settings.port, "--port")
        emulator_sock = args.emulator_port and _listen(
            settings.host, args.emulator_port, "--emulator-port"
        )
    except (ValueError, ModelFolderError, _UsageError) as e:
        return _fail(e, status=1)
    if emulator_sock:
        from .emulator.app import describe_emulator, start_emulator_thread

        config = _emulator_config(args, f"http://127.0.0.1:{settings.port}")
        start_emulator_thread(config, sock=emulator_sock)
        print(describe_emulator(config, settings.host, args.emulator_port), file=sys.stderr)
    if not _run_server(settings, source, sock):
        print("error: the model failed to load (see the log above)", file=sys.stderr)
        return 1
    return 0


def _run_server(settings: Settings, source: ModelSource, sock: socket.socket) -> bool:
    """Serve until interrupted: the model loads in the background. False if it failed to."""
    import logging

    from .engines import load_engine, resolve_engine_name
    from .engines.base import EngineOptions
    from .http_server import DrainingServer, uvicorn_config
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


def _listen(host: str, port: int, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        raise _UsageError(
            f"cannot listen on {host}:{port} ({e.strerror}): stop what uses that port, "
            f"or choose another with {flag}"
        ) from None


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


def _emulator_config(args: argparse.Namespace, upstream: str):  # -> EmulatorConfig
    from .emulator.app import EmulatorConfig

    credentials = None
    if args.verify_tokens:
        found = _session(None).get_credentials()
        if found is None:
            raise SystemExit("error: --verify-tokens: no AWS credentials found")
        credentials = (found.access_key, found.secret_key)
    return EmulatorConfig(
        upstream,
        tuple(args.endpoint_name or ["demo"]),
        getattr(args, "fault", "none"),
        inference_components=tuple(args.inference_component),
        openai_forward=args.openai_forward,
        credentials=credentials,
        async_output_path=args.async_output_path,
        async_failure_path=args.async_failure_path,
        s3_endpoint_url=args.s3_endpoint_url,
    )


def _emulate(args: argparse.Namespace) -> int:
    from .emulator.app import describe_emulator, run_emulator

    config = _emulator_config(args, args.upstream)
    try:
        sock = _listen(args.host, args.port, "--port")
    except _UsageError as e:
        return _fail(e, status=1)
    print(describe_emulator(config, args.host, args.port), file=sys.stderr)
    run_emulator(config, sock=sock)
    return 0


def _add_demo_model(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo-model", help="provision the demo model and print its folder")
    p.add_argument("--cache-dir", help="where to keep it")
    p.set_defaults(func=_demo_model)


def _demo_model(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_model
    from .settings import load_settings

    settings = load_settings(vars(args))
    print(ensure_demo_model(settings.cache_dir))
    return 0


REGION_HELP = (
    "AWS region [what boto3 reads: AWS_DEFAULT_REGION, else `region` of your AWS profile "
    "(AWS_PROFILE, ~/.aws/config); not AWS_REGION]"
)


def _add_endpoint_name(p: argparse.ArgumentParser, **kwargs: object) -> None:
    p.add_argument("--endpoint-name", **kwargs)  # type: ignore[arg-type]
    # The old spelling still works, unlisted.
    p.add_argument("--endpoint", dest="endpoint_name", help=argparse.SUPPRESS)


def _add_endpoint_flags(p: argparse.ArgumentParser) -> None:
    _add_endpoint_name(p, metavar="NAME", help="SageMaker endpoint name")
    p.add_argument(
        "--endpoint-url",
        help="SageMaker Runtime URL, e.g. the emulator's http://127.0.0.1:8081 "
        "[env AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME]",
    )
    p.add_argument("--region", help=REGION_HELP)


def _add_request_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, default=256, help="completion token limit [256]")
    p.add_argument("--temperature", type=float, help="sampling temperature [the model's]")
    p.add_argument("--system", help="a system message")


def _endpoint_client(args: argparse.Namespace):
    from .endpoint.client import EndpointClient, ensure_reachable

    if not args.endpoint_name:
        raise _UsageError("name the endpoint: --endpoint-name NAME")
    if args.endpoint_url:  # a local emulator that is not running: say so before anything else
        ensure_reachable(args.endpoint_url, "--endpoint-url")
    return EndpointClient(args.endpoint_name, region=args.region, endpoint_url=args.endpoint_url)


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
    return _one_line_errors(
        lambda: invoke(
            _endpoint_client(args), request, stream=args.stream, raw=args.raw, out=sys.stdout
        )
    )


def _add_chat(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "chat",
        help="chat with an endpoint in the terminal",
        description="Chat with an endpoint; it keeps the conversation. Lines edit as in a shell "
        "(arrow keys, history). Ctrl-C stops an answer; /system TEXT, /reset, /history; "
        "/exit or Ctrl-D quits.",
    )
    _add_endpoint_flags(p)
    _add_request_flags(p)
    p.set_defaults(func=_chat)


def _chat(args: argparse.Namespace) -> int:
    from .endpoint.console import chat, line_editing

    def run() -> int:
        client = _endpoint_client(args)
        line_editing()
        return chat(client, _sampling(args), system=args.system, read=input, out=sys.stdout)

    return _one_line_errors(run)


def _add_check(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "check", help="check an endpoint (or a container by --url) against the wire contract"
    )
    _add_endpoint_flags(p)
    p.add_argument("--url", help="a container's base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--rule", action="append", help="run only rules starting with this (e.g. stream.)"
    )
    p.add_argument(
        "--openai-route",
        action="store_true",
        help="check the endpoint's OpenAI-compatible route (bearer token, SSE) instead",
    )
    p.add_argument("--inference-component", help="with --openai-route: one component's route")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from .endpoint.check.report import format_report, run_check
    from .endpoint.client import ensure_reachable
    from .endpoint.exchange import ContainerTarget, EndpointTarget, OpenAIRouteTarget, Target

    if bool(args.url) == bool(args.endpoint_name):
        print("error: give exactly one of --endpoint-name NAME or --url URL", file=sys.stderr)
        return 2

    def run() -> int:
        target: Target
        if args.url:  # checked first: otherwise every rule fails with the same error
            ensure_reachable(args.url, "--url")
            target = ContainerTarget(args.url)
        elif args.openai_route:
            route = _openai_route(args, args.endpoint_name, args.inference_component)
            if isinstance(route, str):
                raise _UsageError(route)
            target = OpenAIRouteTarget(route[1], route[0])
        else:
            target = EndpointTarget(_endpoint_client(args))
        results = run_check(target, args.rule or ())
        print(format_report(results, target, args.json))
        return 0 if all(r.passed for r in results) else 1

    return _one_line_errors(run)


# One default for package and deploy: lmi streams and needs no image of your own.
DEFAULT_TARGET = "lmi"


def _add_token(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "token", help="a bearer token and base_url for SageMaker's OpenAI-compatible route"
    )
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--inference-component", help="address one inference component")
    p.add_argument(
        "--expires", type=int, default=43200, help="lifetime in seconds, at most 43200 [43200]"
    )
    p.add_argument(
        "--endpoint-url",
        help="SageMaker Runtime URL, e.g. the emulator's http://127.0.0.1:8081 "
        "[AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME or the region's]",
    )
    _add_aws(p)
    p.set_defaults(func=_token)


def _token(args: argparse.Namespace) -> int:
    route = _openai_route(args, args.endpoint_name, args.inference_component, args.expires)
    if isinstance(route, str):
        print(f"error: {route}", file=sys.stderr)
        return 1
    print(f"export OPENAI_API_KEY={route[0]}")
    print(f"export OPENAI_BASE_URL={route[1]}")
    return 0


def _openai_route(
    args: argparse.Namespace, endpoint: str, component: str | None, expires: int = 3600
) -> tuple[str, str] | str:
    """(bearer token, base_url) for the endpoint's OpenAI route, or what is missing."""
    from .bearer import generate_token, openai_base_url

    session = _session(args.region)
    credentials = session.get_credentials()
    if credentials is None or not session.region_name:
        missing = "credentials" if credentials is None else "a region (--region or AWS_REGION)"
        return f"no AWS {missing} found; the bearer token is signed with them"
    try:
        token = generate_token(credentials, session.region_name, expires)
    except ValueError as e:
        return f"--expires: {e}"
    runtime = args.endpoint_url or session.client("sagemaker-runtime").meta.endpoint_url
    return token, openai_base_url(runtime, endpoint, component)


def _add_package(commands: argparse._SubParsersAction) -> None:
    from .sagemaker.images import TARGETS

    p = commands.add_parser("package", help="build a model.tar.gz for SageMaker")
    p.add_argument("--model", required=True, help="model folder, or 'demo'")
    p.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        choices=TARGETS,
        help=f"image: own container; hf-dlc: Hugging Face DLC; lmi: DJL LMI [{DEFAULT_TARGET}]",
    )
    p.add_argument("-o", "--output", default="model.tar.gz", help="tarball path [model.tar.gz]")
    _add_online_deps(p)
    p.add_argument("--cache-dir", help="where the demo model lives")
    p.set_defaults(func=_aws_command(_package))


def _add_online_deps(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--online-deps",
        action="store_true",
        help="hf-dlc, lmi: let the container install this package's dependencies from PyPI "
        "instead of shipping their wheels (which needs no network at start-up)",
    )


def _aws_command(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """package, deploy, delete, status: a DeployError or an AWS failure is one line, exit 1."""

    def run(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from .sagemaker.errors import DeployError

        try:
            return command(args)
        except (DeployError, BotoCoreError, ClientError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    return run


def _package(args: argparse.Namespace) -> int:
    from .sagemaker.package import build_package, check_package_folder, resolve_model_dir
    from .sagemaker.wheelhouse import ensure_wheelhouse
    from .settings import load_settings

    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    cache_dir = load_settings(vars(args)).cache_dir
    model_dir = resolve_model_dir(args.model, cache_dir)
    check_package_folder(model_dir)  # before any download
    offline = args.target != "image" and not args.online_deps
    wheels = ensure_wheelhouse(cache_dir) if offline else None
    out = build_package(model_dir, args.target, Path(args.output), model_dir.name, warn, wheels)
    print(out)
    return 0


def _add_aws(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", help=REGION_HELP)


def _add_deploy(commands: argparse._SubParsersAction) -> None:
    from .sagemaker.images import TARGETS

    p = commands.add_parser("deploy", help="create or update a SageMaker endpoint")
    p.add_argument(
        "--model",
        help="model folder, 'demo', or s3://.../model.tar.gz (required but with --adapter)",
    )
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--instance-type", help="e.g. ml.g5.xlarge (required but with --adapter)")
    p.add_argument("--role", default="", help="IAM role ARN SageMaker assumes (required)")
    p.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        choices=TARGETS,
        help=f"packaging target [{DEFAULT_TARGET}]; image needs --image-uri",
    )
    p.add_argument("--image-uri", help="container image [per target and region, documented]")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--autoscale", metavar="MIN:MAX", help="target-tracking instance autoscaling")
    p.add_argument(
        "--scale-metric",
        default="concurrency",
        choices=["concurrency", "invocations"],
        help="concurrent requests per model (high resolution) or invocations per instance "
        "per minute [concurrency]",
    )
    p.add_argument(
        "--scale-target", type=float, help="target value [concurrency: 8 GPU, 2 CPU; 30]"
    )
    p.add_argument(
        "--no-retain-variants",
        action="store_true",
        help="on update, take the instance count from --instance-count instead of keeping "
        "the running (autoscaled) one",
    )
    p.add_argument("--volume-size", type=int, help="EBS GB per instance [from the model size]")
    p.add_argument(
        "--startup-timeout", type=int, help="seconds to pass /ping [from the model size]"
    )
    p.add_argument(
        "--download-timeout", type=int, help="seconds to fetch model data [from the model size]"
    )
    p.add_argument(
        "--s3-data",
        default="tarball",
        choices=["tarball", "uncompressed"],
        help="model.tar.gz, or the files under an S3 prefix (nothing to unpack) [tarball]",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="container environment, repeatable",
    )
    p.add_argument("--bucket", help="S3 bucket for model data [sagemaker-REGION-ACCOUNT]")
    p.add_argument(
        "--async",
        dest="async_output",
        metavar="S3_URI",
        help="an asynchronous endpoint writing its results here (streams answered whole)",
    )
    p.add_argument("--async-failure", metavar="S3_URI", help="where failed async results go")
    p.add_argument("--async-success-topic", metavar="SNS_ARN", help="SNS topic told of results")
    p.add_argument("--async-error-topic", metavar="SNS_ARN", help="SNS topic told of failures")
    p.add_argument(
        "--inference-component",
        metavar="NAME",
        help="serve the model as this inference component on an endpoint without a model in "
        "its config (created, or updated where it exists)",
    )
    p.add_argument(
        "--min-copies", type=int, help="autoscale the component's copies; 0 scales to zero"
    )
    p.add_argument("--max-copies", type=int, help="most copies [max(1, --min-copies)]")
    p.add_argument(
        "--max-instances", type=int, help="managed instance scaling ceiling [--instance-count]"
    )
    p.add_argument(
        "--adapter",
        metavar="NAME",
        help="instead of a model: a LoRA adapter component on --base-component's copies",
    )
    p.add_argument("--adapter-s3", metavar="S3_URI", help="the adapter's files (with --adapter)")
    p.add_argument("--base-component", metavar="NAME", help="the component serving --adapter")
    _add_online_deps(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, call nothing")
    p.add_argument("--no-wait", action="store_true", help="do not wait for InService")
    p.add_argument("--cache-dir", help="where the demo model lives")
    _add_aws(p)
    p.set_defaults(func=_aws_command(_deploy))


def _deploy(args: argparse.Namespace) -> int:
    from .sagemaker.console import TerminalProgress
    from .sagemaker.deploy import deploy
    from .sagemaker.errors import InvalidInput
    from .sagemaker.options import DeployOptions
    from .settings import load_settings

    session = _session(args.region)
    if args.adapter or args.adapter_s3 or args.base_component:
        return _deploy_adapter(args, session)
    for flag in ("model", "instance_type"):
        if getattr(args, flag) is None:
            raise InvalidInput(f"--{flag.replace('_', '-')}", "is required")
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
        scale_metric=args.scale_metric,
        scale_target=args.scale_target,
        env=tuple(args.env),
        bucket=args.bucket,
        wait=not args.no_wait,
        retain_variants=not args.no_retain_variants,
        volume_size_gb=args.volume_size,
        startup_timeout_s=args.startup_timeout,
        download_timeout_s=args.download_timeout,
        s3_data=args.s3_data,
        online_deps=args.online_deps,
        cache_dir=load_settings(vars(args)).cache_dir,
        async_output=args.async_output,
        async_failure=args.async_failure,
        async_success_topic=args.async_success_topic,
        async_error_topic=args.async_error_topic,
        inference_component=args.inference_component,
        min_copies=args.min_copies,
        max_copies=args.max_copies,
        max_instances=args.max_instances,
    )
    client = None if args.dry_run else _client(session)  # no client: nothing is called
    deploy(opts, client, sys.stdout, TerminalProgress())
    _print_openai_route(session, args.endpoint_name, args.inference_component)
    return 0


def _deploy_adapter(args: argparse.Namespace, session) -> int:  # session: boto3.Session
    from .sagemaker.adapters import AdapterOptions, deploy_adapter
    from .sagemaker.console import TerminalProgress
    from .sagemaker.errors import InvalidInput

    for flag in ("adapter", "adapter_s3", "base_component"):
        if not getattr(args, flag):
            raise InvalidInput(f"--{flag.replace('_', '-')}", "is needed for a LoRA adapter")
    for flag in ("model", "instance_type", "inference_component"):
        if getattr(args, flag) is not None:  # the base component's model and instances serve it
            raise InvalidInput(f"--{flag.replace('_', '-')}", "does not apply with --adapter")
    opts = AdapterOptions(
        args.endpoint_name,
        args.adapter,
        args.adapter_s3,
        args.base_component,
        session.region_name or "",
        wait=not args.no_wait,
    )
    client = None if args.dry_run else _client(session)
    deploy_adapter(opts, client, sys.stdout, TerminalProgress())
    # A request names the adapter through its own component's route.
    _print_openai_route(session, args.endpoint_name, args.adapter)
    return 0


def _print_openai_route(session, endpoint: str, component: str | None = None) -> None:
    """Where OpenAI clients reach the endpoint (or component): SageMaker's OpenAI route."""
    from .bearer import openai_base_url

    runtime = session.client("sagemaker-runtime").meta.endpoint_url
    print(f"OpenAI base_url: {openai_base_url(runtime, endpoint, component)}")
    print(f"  api_key: `sagemaker-openai token --endpoint-name {endpoint}` prints one")


def _add_delete(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("delete", help="delete an endpoint and what deploy made for it")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--keep-model", action="store_true", help="keep the model and its S3 data")
    _add_aws(p)
    p.set_defaults(func=_aws_command(_delete))


def _delete(args: argparse.Namespace) -> int:
    from .sagemaker.endpoints import delete

    for item in delete(_client(_session(args.region)), args.endpoint_name, args.keep_model):
        print(f"deleted {item}")
    return 0


def _add_status(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("status", help="endpoint status, instance type and count")
    _add_endpoint_name(p, metavar="NAME", help="endpoint name [all endpoints]")
    p.add_argument("name", nargs="?", help=argparse.SUPPRESS)  # the old positional spelling
    _add_aws(p)
    p.set_defaults(func=_aws_command(_status))


def _status(args: argparse.Namespace) -> int:
    from .sagemaker.endpoints import components, format_components, format_status, status

    client = _client(_session(args.region))
    endpoints = status(client, args.endpoint_name or args.name)
    print(format_status(endpoints))
    for ep in endpoints:
        found = components(client, ep)
        if found:
            print(f"inference components of {ep.name}:")
            print(format_components(found))
    return 0


def _session(region: str | None):  # -> boto3.Session
    import boto3

    return boto3.Session(region_name=region)


def _client(session):  # -> SageMakerClient
    from .sagemaker.client import SageMakerClient

    return SageMakerClient(session)


class _UsageError(Exception):
    """A user mistake the CLI finds itself; the message names the fix."""


def _one_line_errors(run: Callable[[], int]) -> int:
    """Mistakes in how the endpoint is reached (region, credentials, URL): one line, status 1."""
    from .endpoint.client import SetupError

    try:
        return run()
    except (SetupError, _UsageError) as e:
        return _fail(e, status=1)


def _fail(error: Exception, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
