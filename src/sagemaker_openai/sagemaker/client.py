"""One typed facade over boto3 holding only the calls that package, deploy and delete use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import boto3
from botocore.exceptions import ClientError

from .calls import aws_errors, aws_tags
from .errors import InvalidInput
from .resources import (
    Endpoint,
    ModelData,
    Routing,
    ScalingPolicy,
    Variant,
    extra_model_source,
)
from .sizing import VariantSettings

if TYPE_CHECKING:  # the boto3-stubs packages of the dev extra; nothing of them runs
    from mypy_boto3_application_autoscaling.literals import MetricTypeType
    from mypy_boto3_application_autoscaling.type_defs import (
        TargetTrackingScalingPolicyConfigurationTypeDef,
    )
    from mypy_boto3_sagemaker.literals import (
        ProductionVariantInferenceAmiVersionType,
        ProductionVariantInstanceTypeType,
    )
    from mypy_boto3_sagemaker.type_defs import (
        AdditionalModelDataSourceTypeDef,
        ContainerDefinitionTypeDef,
        ProductionVariantRoutingConfigTypeDef,
        ProductionVariantTypeDef,
    )

    from .component_client import ComponentClient

SCALABLE_DIMENSION: Literal["sagemaker:variant:DesiredInstanceCount"] = (
    "sagemaker:variant:DesiredInstanceCount"
)


class SageMakerClient:
    """SageMaker, S3, Application Auto Scaling and STS, as this project uses them."""

    def __init__(self, session: boto3.Session) -> None:
        self.region: str = session.region_name or ""
        if not self.region:
            raise InvalidInput("--region", "no AWS region given or configured")
        self._sm = session.client("sagemaker")
        self._s3 = session.client("s3")
        self._aas = session.client("application-autoscaling")
        self._sts = session.client("sts")
        self._cw = session.client("cloudwatch")  # alarms that bring components back from zero

    @property
    def components(self) -> ComponentClient:
        """Inference components and their copy scaling."""
        from .component_client import ComponentClient

        return ComponentClient(self._sm, self._aas, self._cw)

    # identity and storage

    def account_id(self) -> str:
        with aws_errors("GetCallerIdentity"):
            return str(self._sts.get_caller_identity()["Account"])

    def ensure_bucket(self, bucket: str) -> bool:
        """Create the bucket unless it exists; True when this call created it."""
        with aws_errors("HeadBucket"):
            try:
                self._s3.head_bucket(Bucket=bucket)
                return False
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
        with aws_errors("CreateBucket"):
            args: dict[str, Any] = {"Bucket": bucket}
            if self.region != "us-east-1":  # us-east-1 rejects an explicit location constraint
                args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self._s3.create_bucket(**args)
        return True

    def upload_file(
        self, path: Path, bucket: str, key: str, progress: Callable[[int], None]
    ) -> None:
        """Multipart upload; `progress` gets the bytes sent since its last call."""
        with aws_errors("PutObject"):
            self._s3.upload_file(str(path), bucket, key, Callback=progress)

    def delete_object(self, bucket: str, key: str) -> None:
        with aws_errors("DeleteObject"):
            self._s3.delete_object(Bucket=bucket, Key=key)

    def object_sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """key -> bytes of every object whose key starts with `prefix`."""
        sizes: dict[str, int] = {}
        with aws_errors("ListObjectsV2"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                sizes.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
        return sizes

    # models and endpoint configs

    def create_model(
        self,
        name: str,
        image: str,
        model_data: ModelData | None,  # None: the container fetches the model itself
        role: str,
        env: dict[str, str],
        tags: dict[str, str],
        extra_prefix: str | None = None,  # an S3 prefix mounted at EXTRA_MOUNT
    ) -> None:
        container: ContainerDefinitionTypeDef = {"Image": image, "Environment": env}
        if model_data is not None:
            container.update(model_data.container_fields())
        if extra_prefix is not None:
            container["AdditionalModelDataSources"] = [
                cast("AdditionalModelDataSourceTypeDef", extra_model_source(extra_prefix))
            ]
        with aws_errors("CreateModel"):
            self._sm.create_model(
                ModelName=name,
                PrimaryContainer=container,
                ExecutionRoleArn=role,
                Tags=aws_tags(tags),
            )

    def model_data(self, name: str) -> ModelData | None:
        with aws_errors("DescribeModel"):
            container = self._sm.describe_model(ModelName=name).get("PrimaryContainer", {})
        if container.get("ModelDataUrl"):
            return ModelData(str(container["ModelDataUrl"]))
        source = container.get("ModelDataSource", {}).get("S3DataSource", {})
        if source.get("S3Uri"):
            return ModelData(str(source["S3Uri"]), source.get("CompressionType") != "None")
        return None

    def model_tags(self, name: str) -> dict[str, str]:
        with aws_errors("ListTags"):
            arn = self._sm.describe_model(ModelName=name)["ModelArn"]
            tags = self._sm.list_tags(ResourceArn=arn).get("Tags", [])
        return {t["Key"]: t["Value"] for t in tags}

    def delete_model_data(self, data: ModelData) -> None:
        """The tarball, or every file under the prefix."""
        bucket, _, key = data.uri.removeprefix("s3://").partition("/")
        keys = [key] if data.compressed else sorted(self.object_sizes(bucket, key))
        for k in keys:
            self.delete_object(bucket, k)

    def delete_model(self, name: str) -> None:
        with aws_errors("DeleteModel"):
            self._sm.delete_model(ModelName=name)

    def create_endpoint_config(
        self,
        name: str,
        model_name: str,
        variant: str,
        instance_type: str,
        count: int,
        settings: VariantSettings,
        tags: dict[str, str],
        async_config: dict[str, Any] | None = None,
        routing: Routing | None = None,
    ) -> None:
        production_variant: ProductionVariantTypeDef = {
            "VariantName": variant,
            "ModelName": model_name,
            # The user's choice, checked by SageMaker; the stubs' list lags new instance types.
            "InstanceType": cast("ProductionVariantInstanceTypeType", instance_type),
            "InitialInstanceCount": count,
            "InitialVariantWeight": 1.0,
            "ContainerStartupHealthCheckTimeoutInSeconds": settings.startup_timeout_s,
            "ModelDataDownloadTimeoutInSeconds": settings.download_timeout_s,
        }
        if settings.volume_size_gb is not None:
            production_variant["VolumeSizeInGB"] = settings.volume_size_gb
        if settings.ami is not None:  # a value of botocore's enum (host_ami.py)
            production_variant["InferenceAmiVersion"] = cast(
                "ProductionVariantInferenceAmiVersionType", settings.ami
            )
        if routing is not None:
            production_variant["RoutingConfig"] = cast(
                "ProductionVariantRoutingConfigTypeDef", routing.to_api()
            )
        variants = [production_variant]
        extra: dict[str, Any] = {"AsyncInferenceConfig": async_config} if async_config else {}
        with aws_errors("CreateEndpointConfig"):
            self._sm.create_endpoint_config(
                EndpointConfigName=name, ProductionVariants=variants, Tags=aws_tags(tags), **extra
            )

    def knows_routing_settings(self) -> bool:
        """Whether this botocore's service model has PREFIX_AWARE's settings (2026-08); an
        older one refuses the request only after deploy has begun."""
        shape = self._sm.meta.service_model.shape_for("ProductionVariantRoutingConfig")
        return "PrefixAwareRoutingConfig" in getattr(shape, "members", {})

    def endpoint_config_variants(self, name: str) -> tuple[Variant, ...]:
        with aws_errors("DescribeEndpointConfig"):
            config = self._sm.describe_endpoint_config(EndpointConfigName=name)
        return tuple(
            Variant(
                v["VariantName"],
                v.get("ModelName", ""),  # none in an inference-component endpoint's variant
                v.get("InstanceType", "serverless"),
                int(v.get("InitialInstanceCount", 0)),
                Routing.from_api(cast("dict[str, Any] | None", v.get("RoutingConfig"))),
            )
            for v in config["ProductionVariants"]
        )

    def delete_endpoint_config(self, name: str) -> None:
        with aws_errors("DeleteEndpointConfig"):
            self._sm.delete_endpoint_config(EndpointConfigName=name)

    # endpoints

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        with aws_errors("CreateEndpoint"):
            self._sm.create_endpoint(
                EndpointName=name, EndpointConfigName=config_name, Tags=aws_tags(tags)
            )

    def update_endpoint(self, name: str, config_name: str, retain_variants: bool) -> None:
        """retain_variants: keep the running instance count and weights (autoscaled ones)."""
        with aws_errors("UpdateEndpoint"):
            self._sm.update_endpoint(
                EndpointName=name,
                EndpointConfigName=config_name,
                RetainAllVariantProperties=retain_variants,
            )

    def describe_endpoint(self, name: str) -> Endpoint | None:
        """The endpoint, or None when it does not exist."""
        # SageMaker says "missing" only in a ValidationException's text; listing says it cleanly.
        if name not in self.list_endpoint_names(name_contains=name):
            return None
        with aws_errors("DescribeEndpoint"):
            ep = self._sm.describe_endpoint(EndpointName=name)
        variants = self.endpoint_config_variants(ep["EndpointConfigName"])
        current = {
            v["VariantName"]: v.get("CurrentInstanceCount")
            for v in ep.get("ProductionVariants", [])
        }
        return Endpoint(
            name=ep["EndpointName"],
            status=ep["EndpointStatus"],
            config_name=ep["EndpointConfigName"],
            created=ep["CreationTime"],
            failure_reason=ep.get("FailureReason"),
            variants=tuple(
                Variant(
                    v.name,
                    v.model_name,
                    v.instance_type,
                    int(current.get(v.name) or v.instance_count),
                    v.routing,
                )
                for v in variants
            ),
        )

    def list_endpoint_names(self, name_contains: str = "") -> list[str]:
        names: list[str] = []
        with aws_errors("ListEndpoints"):
            pages = self._sm.get_paginator("list_endpoints")
            for page in (
                pages.paginate(NameContains=name_contains) if name_contains else pages.paginate()
            ):
                names += [e["EndpointName"] for e in page["Endpoints"]]
        return names

    def delete_endpoint(self, name: str) -> None:
        with aws_errors("DeleteEndpoint"):
            self._sm.delete_endpoint(EndpointName=name)

    # autoscaling

    def register_scalable_target(self, resource_id: str, min_count: int, max_count: int) -> None:
        with aws_errors("RegisterScalableTarget"):
            self._aas.register_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                MinCapacity=min_count,
                MaxCapacity=max_count,
            )

    def put_target_tracking_policy(
        self, policy_name: str, resource_id: str, policy: ScalingPolicy
    ) -> None:
        config: TargetTrackingScalingPolicyConfigurationTypeDef = {
            "TargetValue": policy.target,
            # Checked against sizing's metric names when the policy was made, or read from AWS.
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": cast("MetricTypeType", policy.metric)
            },
            "ScaleInCooldown": 300,  # seconds
            "ScaleOutCooldown": 60,  # seconds
        }
        with aws_errors("PutScalingPolicy"):
            self._aas.put_scaling_policy(
                PolicyName=policy_name,
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration=config,
            )

    def scalable_target(self, resource_id: str) -> tuple[int, int] | None:
        """(min, max) instance counts where the variant is registered for autoscaling."""
        with aws_errors("DescribeScalableTargets"):
            found = self._aas.describe_scalable_targets(
                ServiceNamespace="sagemaker",
                ResourceIds=[resource_id],
                ScalableDimension=SCALABLE_DIMENSION,
            )["ScalableTargets"]
        return (int(found[0]["MinCapacity"]), int(found[0]["MaxCapacity"])) if found else None

    def scaling_policies(self, resource_id: str) -> tuple[tuple[str, ScalingPolicy], ...]:
        """The target-tracking policies on predefined metrics (the kind this tool writes)."""
        with aws_errors("DescribeScalingPolicies"):
            found = self._aas.describe_scaling_policies(
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
            )["ScalingPolicies"]
        policies = []
        for p in found:
            config = p.get("TargetTrackingScalingPolicyConfiguration", {})
            metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
            if metric:
                policies.append((p["PolicyName"], ScalingPolicy(metric, config["TargetValue"])))
        return tuple(policies)

    def deregister_scalable_target(self, resource_id: str) -> None:
        with aws_errors("DeregisterScalableTarget"):
            self._aas.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
            )
