"""The command line: the only place that builds things (settings, engine, app). No logic here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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
    _add_package(commands)
    _add_deploy(commands)
    _add_delete(commands)
    _add_status(commands)
    _add_bench(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="serve a model on /ping and /invocations (and /v1)")
    p.add_argument("--model", help="model folder, or 'demo' [env SMOAI_MODEL; /opt/ml/model]")
    p.add_argument("--engine", help="transformers, vllm or auto [env SMOAI_ENGINE; auto]")
    p.add_argument("--host", help="bind address [env SMOAI_HOST; 0.0.0.0]")
    p.add_argument("--port", type=int, help="port [env SAGEMAKER_BIND_TO_PORT; 8080]")
    p.add_argument(
        "--stream-format",
        choices=["jsonl", "sse"],
        help="framing of streamed /invocations responses [env SMOAI_STREAM_FORMAT; jsonl]",
    )
    p.add_argument(
        "--served-model-name",
        help="`model` in responses [env SMOAI_SERVED_MODEL_NAME; the folder name]",
    )
    p.add_argument("--log-level", help="debug, info, warning [env SMOAI_LOG_LEVEL; info]")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .server import run_server
    from .settings import load_settings

    settings = load_settings(vars(args))
    run_server(settings)
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


def _add_bench(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench", help="benchmark this runtime against vllm serve, vLLM alone and transformers"
    )
    p.add_argument("--model", default="demo", help="model folder, or 'demo' [demo]")
    p.add_argument("--prompts", default="bench/prompts.json", help="prompt set [%(default)s]")
    p.add_argument("--results", default="bench/results", help="output folder [%(default)s]")
    p.add_argument("--readme", default="README.md", help="README to update ['' for none]")
    p.add_argument("--window", type=float, help="seconds measured per system and level [45]")
    p.add_argument("--systems", help="comma-separated subset of: " + ", ".join(_bench_keys()))
    p.add_argument("--quick", action="store_true", help="smoke run: levels 1,4,16, 8 s windows")
    p.set_defaults(func=_bench)


def _bench_keys() -> list[str]:
    from .bench.systems import SYSTEMS

    return [s.key for s in SYSTEMS]


def _bench(args: argparse.Namespace) -> int:
    import logging
    from dataclasses import replace
    from pathlib import Path

    from .bench import BenchOptions, quick, run_bench
    from .server import resolve_model
    from .settings import load_settings

    logging.basicConfig(level="INFO", format="%(message)s")
    model_dir, _ = resolve_model(load_settings({"model": args.model}))
    options = BenchOptions(
        model_dir=model_dir,
        prompts=Path(args.prompts),
        results_dir=Path(args.results),
        readme=Path(args.readme) if args.readme else None,
    )
    if args.quick:
        options = quick(options)
    if args.window:
        options = replace(options, window_s=args.window)
    if args.systems:
        options = replace(options, systems=tuple(args.systems.split(",")))
    print(run_bench(options))
    return 0


def _session(region: str | None):  # -> boto3.Session
    import boto3

    return boto3.Session(region_name=region)


def _client(session):  # -> SageMakerClient
    from .sagemaker.client import SageMakerClient

    return SageMakerClient(session)


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
