"""The flags and the boto3 session shared by the commands that reach AWS."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so `--help` starts fast
    import boto3

REGION_HELP = (
    "AWS region [what boto3 reads: AWS_DEFAULT_REGION, else `region` of your AWS profile "
    "(AWS_PROFILE, ~/.aws/config); not AWS_REGION]"
)


def add_region(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", help=REGION_HELP)


def add_endpoint_name(p: argparse.ArgumentParser, *, metavar: str, help: str) -> None:
    p.add_argument("--endpoint-name", metavar=metavar, help=help)
    # The old spelling still works, unlisted.
    p.add_argument("--endpoint", dest="endpoint_name", help=argparse.SUPPRESS)


def aws_session(region: str | None) -> boto3.Session:
    import boto3

    return boto3.Session(region_name=region)
