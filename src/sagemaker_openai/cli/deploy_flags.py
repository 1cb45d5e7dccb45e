"""deploy's flags for SageMaker's newer endpoint shapes: async, inference components, LoRA
adapters and routing. Checked in sagemaker/options.py, where a mistake is one line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so `--help` starts fast
    from ..sagemaker.options import AsyncOptions, ComponentOptions, RoutingOptions


def add_platform_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--async",
        dest="async_output",
        metavar="S3_URI",
        help="an asynchronous endpoint writing its results here (streams answered whole); "
        "--autoscale 0:N scales it to zero",
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
    p.add_argument(
        "--routing",
        metavar="STRATEGY",
        help="LEAST_OUTSTANDING_REQUESTS, RANDOM, PREFIX_AWARE or KV_AWARE [SageMaker's "
        "default; LEAST_OUTSTANDING_REQUESTS with --inference-component; kept on update]",
    )
    p.add_argument(
        "--inference-ami",
        metavar="VERSION",
        help="the GPU host AMI (InferenceAmiVersion, one of botocore's), or 'default' for "
        "SageMaker's [the one whose driver fits the image's CUDA: "
        "al2023-ami-sagemaker-inference-gpu-4-1 for cu13x images]",
    )
    p.add_argument("--prefix-length", type=int, help="PREFIX_AWARE: request bytes routed on [4096]")
    p.add_argument(
        "--prefix-concurrency",
        type=int,
        help="PREFIX_AWARE: in-flight requests per instance (or copy) before another takes "
        "the prefix [the concurrency scaling target: 8 GPU, 2 CPU, 4 per copy]",
    )


def platform_options(
    args: argparse.Namespace,
) -> tuple[AsyncOptions, ComponentOptions, RoutingOptions]:
    """DeployOptions' async, inference component and routing groups from these flags
    (--inference-ami belongs to the container group)."""
    from ..sagemaker.options import AsyncOptions, ComponentOptions, RoutingOptions

    asynchronous = AsyncOptions(
        output=args.async_output,
        failure=args.async_failure,
        success_topic=args.async_success_topic,
        error_topic=args.async_error_topic,
    )
    component = ComponentOptions(
        name=args.inference_component,
        min_copies=args.min_copies,
        max_copies=args.max_copies,
        max_instances=args.max_instances,
    )
    routing = RoutingOptions(
        strategy=args.routing,
        prefix_length=args.prefix_length,
        prefix_concurrency=args.prefix_concurrency,
    )
    return asynchronous, component, routing
