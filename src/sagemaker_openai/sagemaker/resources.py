"""What AWS holds, as deploy sees it: frozen values that the client returns and takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # boto3-stubs, of the dev extra
    from mypy_boto3_sagemaker.type_defs import (
        ContainerDefinitionTypeDef,
        S3ModelDataSourceTypeDef,
    )

TAG_PREFIX = "sagemaker-openai"
UPLOADED_TAG = f"{TAG_PREFIX}:uploaded-model-data"  # on a model whose S3 data this tool wrote
# RoutingStrategy's enum in botocore's sagemaker service model (1.44.8); a test keeps them equal.
ROUTING_STRATEGIES = ("LEAST_OUTSTANDING_REQUESTS", "RANDOM", "PREFIX_AWARE", "KV_AWARE")


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


# Where SageMaker puts an AdditionalModelDataSource of this channel (pulumi_aws documents
# /opt/ml/additional-model-data-sources/<channel_name>/; AWS's API reference does not): the
# hf-dlc handler stays in /opt/ml/model/code while an S3 prefix's weights come here.
EXTRA_CHANNEL = "model"
EXTRA_MOUNT = f"/opt/ml/additional-model-data-sources/{EXTRA_CHANNEL}"


def extra_model_source(prefix: str) -> dict[str, Any]:
    """An AdditionalModelDataSource: the files under an S3 prefix, uncompressed."""
    source = {"S3Uri": prefix, "S3DataType": "S3Prefix", "CompressionType": "None"}
    return {"ChannelName": EXTRA_CHANNEL, "S3DataSource": source}


@dataclass(frozen=True)
class Routing:
    """A production variant's RoutingConfig; PREFIX_AWARE requires its two settings."""

    strategy: str  # one of ROUTING_STRATEGIES
    prefix_length: int | None = None  # body bytes (characters of messages on the OpenAI route)
    concurrency_threshold: int | None = None  # in-flight requests before going elsewhere

    def to_api(self) -> dict[str, Any]:
        config: dict[str, Any] = {"RoutingStrategy": self.strategy}
        if self.prefix_length is not None:
            config["PrefixAwareRoutingConfig"] = {
                "PrefixLength": self.prefix_length,
                "ConcurrencyThreshold": self.concurrency_threshold,
            }
        return config

    def describe(self) -> str:
        if self.prefix_length is None:
            return f"routing {self.strategy}"
        return (
            f"routing {self.strategy} (prefix {self.prefix_length} bytes, elsewhere at "
            f"{self.concurrency_threshold} in-flight requests)"
        )

    @classmethod
    def from_api(cls, config: dict[str, Any] | None) -> Routing | None:
        if not config:
            return None
        prefix = config.get("PrefixAwareRoutingConfig", {})
        length, threshold = prefix.get("PrefixLength"), prefix.get("ConcurrencyThreshold")
        return cls(config["RoutingStrategy"], length, threshold)


# What deploy sets on an inference-component endpoint unless told otherwise.
LEAST_OUTSTANDING = Routing("LEAST_OUTSTANDING_REQUESTS")


@dataclass(frozen=True)
class Variant:
    name: str
    model_name: str
    instance_type: str
    instance_count: int  # current count where the endpoint reports it, else the initial one
    routing: Routing | None = None  # None: the config sets none (SageMaker's default)


@dataclass(frozen=True)
class Endpoint:
    name: str
    status: str  # Creating, Updating, InService, Failed, Deleting, ...
    config_name: str
    created: datetime
    failure_reason: str | None
    variants: tuple[Variant, ...]
