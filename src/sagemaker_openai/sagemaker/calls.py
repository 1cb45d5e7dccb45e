"""What every boto3 call shares: botocore's exceptions as this package's errors, tag lists."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from .errors import AwsError, InvalidInput, NoCredentials

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import TagTypeDef


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Turn botocore's exceptions into this package's one-line errors."""
    try:
        yield
    except NoCredentialsError as e:
        raise NoCredentials(
            "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run `aws configure`)"
        ) from e
    except NoRegionError as e:
        raise InvalidInput("--region", "no AWS region given or configured") from e
    except ClientError as e:
        err = e.response.get("Error", {})
        raise AwsError(operation, err.get("Code", "Unknown"), err.get("Message", str(e))) from e
    except BotoCoreError as e:
        raise AwsError(operation, type(e).__name__, str(e)) from e


def aws_tags(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
