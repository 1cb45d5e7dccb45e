"""package, deploy, delete and status: build options and a SageMaker client, then run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .aws import add_endpoint_name, add_region, aws_session
from .deploy_flags import add_platform_flags, platform_options

if TYPE_CHECKING:  # imported where used, so `--help` starts fast
    import boto3

    from ..sagemaker.client import SageMakerClient
    from ..sagemaker.options import DeployOptions
    from .usage import Command, Commands

# One default for package and deploy: lmi streams and needs no image of your own.
DEFAULT_TARGET = "lmi"


def add_commands(commands: Commands) -> None:
    _add_package(commands)
    _add_deploy(commands)
    _add_delete(commands)
    _add_status(commands)


def _set_command(p: argparse.ArgumentParser, command: Command) -> None:
    # main() turns a DeployError or an AWS failure of these commands into one line, exit 1.
    p.set_defaults(func=command, aws_errors=True)


def _add_package(commands: Commands) -> None:
    from ..sagemaker.images import TARGETS

    p = commands.add_parser("package", help="build a model.tar.gz for SageMaker")
    p.add_argument(
        "--model", required=True, help="model folder, 'demo', or hf://ORG/NAME[@REVISION]"
    )
    p.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        choices=TARGETS,
        help=f"image: own container; hf-dlc: Hugging Face DLC; lmi: DJL LMI [{DEFAULT_TARGET}]",
    )
    p.add_argument("-o", "--output", default="model.tar.gz", help="tarball path [model.tar.gz]")
    _add_online_deps(p)
    p.add_argument("--cache-dir", help="where the demo model lives")
    _set_command(p, _package)


def _add_online_deps(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--online-deps",
        action="store_true",
        help="hf-dlc, lmi: let the container install this package's dependencies from PyPI "
        "instead of shipping their wheels (which needs no network at start-up)",
    )


def _package(args: argparse.Namespace) -> int:
    from ..sagemaker.package import build_package, check_package_folder, resolve_model_dir
    from ..sagemaker.wheelhouse import ensure_wheelhouse
    from ..settings import load_settings

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


def _add_deploy(commands: Commands) -> None:
    from ..sagemaker.images import TARGETS

    p = commands.add_parser("deploy", help="create or update a SageMaker endpoint")
    p.add_argument(
        "--model",
        help="model folder, 'demo', hf://ORG/NAME[@REVISION] or s3://BUCKET/PREFIX/ (fetched "
        "by the container, nothing uploaded), or s3://.../model.tar.gz (required but with "
        "--adapter)",
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
    p.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        help="target-tracking instance autoscaling; MIN 0 (scale to zero) with --async",
    )
    p.add_argument(
        "--scale-metric",
        choices=["concurrency", "invocations"],
        help="concurrent requests per model (high resolution) or invocations per instance "
        "per minute [concurrency; an async endpoint scales on its queue]",
    )
    p.add_argument(
        "--scale-target",
        type=float,
        help="target value [concurrency: 8 GPU, 2 CPU; invocations: 30; async queue: 5]",
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
    add_platform_flags(p)
    _add_online_deps(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, call nothing")
    p.add_argument("--no-wait", action="store_true", help="do not wait for InService")
    p.add_argument("--cache-dir", help="where the demo model lives")
    add_region(p)
    _set_command(p, _deploy)


def _deploy(args: argparse.Namespace) -> int:
    from ..sagemaker.console import TerminalProgress
    from ..sagemaker.deploy import deploy
    from ..sagemaker.errors import InvalidInput

    session = aws_session(args.region)
    if args.adapter or args.adapter_s3 or args.base_component:
        return _deploy_adapter(args, session)
    for flag in ("model", "instance_type"):
        if getattr(args, flag) is None:
            raise InvalidInput(f"--{flag.replace('_', '-')}", "is required")
    opts = _deploy_options(args, session.region_name or "")
    client = None if args.dry_run else _client(session)  # no client: nothing is called
    deploy(opts, client, sys.stdout, TerminalProgress())
    _print_openai_route(session, args.endpoint_name, args.inference_component)
    return 0


def _deploy_options(args: argparse.Namespace, region: str) -> DeployOptions:
    from ..sagemaker.options import ContainerOptions, DeployOptions, ModelOptions, ScalingOptions
    from ..settings import load_settings

    asynchronous, component, routing = platform_options(args)
    return DeployOptions(
        endpoint_name=args.endpoint_name,
        instance_type=args.instance_type,
        role=args.role,
        region=region,
        model=ModelOptions(
            source=args.model,
            s3_data=args.s3_data,
            bucket=args.bucket,
            online_deps=args.online_deps,
            cache_dir=load_settings(vars(args)).cache_dir,
        ),
        wait=not args.no_wait,
        container=ContainerOptions(
            target=args.target,
            image_uri=args.image_uri,
            env=tuple(args.env),
            inference_ami=args.inference_ami,
            volume_size_gb=args.volume_size,
            startup_timeout_s=args.startup_timeout,
            download_timeout_s=args.download_timeout,
        ),
        scaling=ScalingOptions(
            instance_count=args.instance_count,
            autoscale=args.autoscale,
            metric=args.scale_metric,
            target_value=args.scale_target,
            retain_variants=not args.no_retain_variants,
        ),
        asynchronous=asynchronous,
        component=component,
        routing=routing,
    )


def _deploy_adapter(args: argparse.Namespace, session: boto3.Session) -> int:
    from ..sagemaker.adapters import AdapterOptions, deploy_adapter
    from ..sagemaker.console import TerminalProgress
    from ..sagemaker.errors import InvalidInput

    for flag in ("adapter", "adapter_s3", "base_component"):
        if not getattr(args, flag):
            raise InvalidInput(f"--{flag.replace('_', '-')}", "is needed for a LoRA adapter")
    for flag in ("model", "instance_type", "inference_component", "routing"):
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


def _print_openai_route(
    session: boto3.Session, endpoint: str, component: str | None = None
) -> None:
    """Where OpenAI clients reach the endpoint (or component): SageMaker's OpenAI route."""
    from ..bearer import openai_base_url

    runtime = session.client("sagemaker-runtime").meta.endpoint_url
    print(f"OpenAI base_url: {openai_base_url(runtime, endpoint, component)}")
    print(f"  api_key: `sagemaker-openai token --endpoint-name {endpoint}` prints one")


def _add_delete(commands: Commands) -> None:
    p = commands.add_parser("delete", help="delete an endpoint and what deploy made for it")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--keep-model", action="store_true", help="keep the model and its S3 data")
    add_region(p)
    _set_command(p, _delete)


def _delete(args: argparse.Namespace) -> int:
    from ..sagemaker.endpoints import delete

    for item in delete(_client(aws_session(args.region)), args.endpoint_name, args.keep_model):
        print(f"deleted {item}")
    return 0


def _add_status(commands: Commands) -> None:
    p = commands.add_parser("status", help="endpoint status, instance type and count")
    add_endpoint_name(p, metavar="NAME", help="endpoint name [all endpoints]")
    p.add_argument("name", nargs="?", help=argparse.SUPPRESS)  # the old positional spelling
    add_region(p)
    _set_command(p, _status)


def _status(args: argparse.Namespace) -> int:
    from ..sagemaker.endpoints import components, format_components, format_status, status

    client = _client(aws_session(args.region))
    endpoints = status(client, args.endpoint_name or args.name)
    print(format_status(endpoints))
    for ep in endpoints:
        found = components(client, ep)
        if found:
            print(f"inference components of {ep.name}:")
            print(format_components(found))
    return 0


def _client(session: boto3.Session) -> SageMakerClient:
    from ..sagemaker.client import SageMakerClient

    return SageMakerClient(session)
