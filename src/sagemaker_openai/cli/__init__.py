"""The command line: the only place that builds things (settings, engine, app). No logic here.

Commands by family: serve.py (serve, demo-model, emulate), endpoint.py (invoke, chat, check,
token), deploy.py (package, deploy, delete, status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import deploy, endpoint, serve
from .usage import Command

AWS_MODULES = ("boto3", "botocore")  # the [aws] extra: not installed into the model images


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "func", None)
    if command is None:
        parser.print_help()
        return 2
    try:
        if args.aws_errors:
            return _aws_errors_in_one_line(command, args)
        return int(command(args) or 0)
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] not in AWS_MODULES:
            raise
        print(
            "error: this command calls AWS and needs boto3: pip install 'sagemaker-openai[aws]'",
            file=sys.stderr,
        )
        return 1


def sagemaker_serve() -> int:
    """The `serve` executable SageMaker runs: `docker run IMAGE serve`, SageMaker's defaults."""
    argv = [a for a in sys.argv[1:] if a != "serve"]
    return main(["serve", *argv])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagemaker-openai",
        description="Serve chat models on SageMaker in the exact OpenAI Chat Completions format.",
    )
    # deploy's commands set aws_errors: their DeployError or AWS failure is one line, exit 1.
    parser.set_defaults(aws_errors=False)
    commands = parser.add_subparsers(metavar="COMMAND")
    serve.add_commands(commands)
    endpoint.add_commands(commands)
    deploy.add_commands(commands)
    return parser


def _aws_errors_in_one_line(command: Command, args: argparse.Namespace) -> int:
    """package, deploy, delete, status: a DeployError or an AWS failure is one line, exit 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ..sagemaker.errors import DeployError

    try:
        return command(args)
    except (DeployError, BotoCoreError, ClientError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
