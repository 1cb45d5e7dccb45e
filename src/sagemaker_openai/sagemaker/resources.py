"""What AWS holds, as deploy sees it: frozen values that the client returns and takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # boto3-stubs, of the dev extra
    from mypy_boto3_sagemaker.type_defs import (
        ContainerDefinitionTypeDef,
        S3ModelDataSourceTypeDef,
    )

TAG_PREFIX = "sagemaker-openai"
UPLOADED_TAG = f"{TAG_PREFIX}:uploaded-model-data"  # on a model whose S3 data this tool wrote


def scaling_resource_id(endpoint: str, variant: str) -> str:
    """Application Auto Scaling's name for an endpoint variant."""
    return f"endpoint/{endpoint}/variant/{variant}"


@dataclass(frozen=True)
class ScalingPolicy:
    """Target tracking on one of SageMaker's predefined variant metrics."""

    metric: str  # PredefinedMetricType
    target: float

    def describe(self) -> str:
        unit = UNITS.get(self.metric, self.metric)
        return f"{self.target:g} {unit}"


UNITS = {
    "SageMakerVariantInvocationsPerInstance": "invocations per instance per minute",
    "SageMakerVariantConcurrentRequestsPerModelHighResolution": (
        "concurrent requests per model (high resolution)"
    ),
}


@dataclass(frozen=True)
class ModelData:
    """Where a model's files are in S3: a model.tar.gz, or files under a prefix ending in /."""

    uri: str
    compressed: bool = True

    def container_fields(self) -> ContainerDefinitionTypeDef:
        if self.compressed:
            return {"ModelDataUrl": self.uri}
        # Uncompressed: SageMaker copies the files under the prefix into /opt/ml/model.
        source: S3ModelDataSourceTypeDef = {
            "S3Uri": self.uri,
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
        return {"ModelDataSource": {"S3DataSource": source}}


@dataclass(frozen=True)
class Variant:
    name: str
    model_name: str
    instance_type: str
    instance_count: int  # current count where the endpoint reports it, else the initial one


@dataclass(frozen=True)
class Endpoint:
    name: str
    status: str  # Creating, Updating, InService, Failed, Deleting, ...
    config_name: str
    created: datetime
    failure_reason: str | None
    variants: tuple[Variant, ...]
