"""The boto3 calls for inference components: SageMaker, Application Auto Scaling, CloudWatch.

Requests are built by components.py as plain keyword dictionaries; this wraps them so that
botocore's errors become this package's one-line errors. An async endpoint's queue scaling
uses the same policy and alarm calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .calls import aws_errors, aws_tags
from .components import COPY_DIMENSION


@dataclass(frozen=True)
class Component:
    """An inference component as DescribeInferenceComponent reports it."""

    name: str
    status: str  # InService, Creating, Updating, Failed, Deleting
    model_name: str  # "" for an adapter component
    base: str  # the base component of an adapter, else ""
    copies: int  # current copy count
    failure_reason: str | None = None


class ComponentClient:
    def __init__(self, sm: Any, aas: Any, cw: Any) -> None:
        self._sm, self._aas, self._cw = sm, aas, cw

    def create_endpoint_config(self, request: dict[str, Any], tags: dict[str, str]) -> None:
        with aws_errors("CreateEndpointConfig"):
            self._sm.create_endpoint_config(**request, Tags=aws_tags(tags))

    def create(self, request: dict[str, Any], tags: dict[str, str]) -> None:
        with aws_errors("CreateInferenceComponent"):
            self._sm.create_inference_component(**request, Tags=aws_tags(tags))

    def update(self, request: dict[str, Any]) -> None:
        """UpdateInferenceComponent takes the create request less endpoint and variant."""
        args = {k: v for k, v in request.items() if k not in ("EndpointName", "VariantName")}
        with aws_errors("UpdateInferenceComponent"):
            self._sm.update_inference_component(**args)

    def describe(self, name: str) -> Component | None:
        """The component, or None when it does not exist (or is gone after a delete)."""
        with aws_errors("DescribeInferenceComponent"):
            try:
                ic = self._sm.describe_inference_component(InferenceComponentName=name)
            except ClientError as e:
                # SageMaker says "missing" only as a ValidationException naming the component.
                if e.response.get("Error", {}).get("Code") == "ValidationException":
                    return None
                raise
        spec = ic.get("Specification", {})
        return Component(
            name=ic["InferenceComponentName"],
            status=ic.get("InferenceComponentStatus", "Unknown"),
            model_name=spec.get("ModelName", ""),
            base=spec.get("BaseInferenceComponentName", ""),
            copies=int(ic.get("RuntimeConfig", {}).get("CurrentCopyCount", 0)),
            failure_reason=ic.get("FailureReason"),
        )

    def names(self, endpoint: str) -> list[str]:
        """The components on an endpoint."""
        names: list[str] = []
        with aws_errors("ListInferenceComponents"):
            for page in self._sm.get_paginator("list_inference_components").paginate(
                EndpointNameEquals=endpoint
            ):
                names += [c["InferenceComponentName"] for c in page["InferenceComponents"]]
        return names

    def delete(self, name: str) -> None:
        with aws_errors("DeleteInferenceComponent"):
            self._sm.delete_inference_component(InferenceComponentName=name)

    # copy scaling

    def register_target(self, request: dict[str, Any]) -> None:
        with aws_errors("RegisterScalableTarget"):
            self._aas.register_scalable_target(**request)

    def put_policy(self, request: dict[str, Any]) -> str:
        """The policy's ARN (a CloudWatch alarm's action)."""
        with aws_errors("PutScalingPolicy"):
            return str(self._aas.put_scaling_policy(**request)["PolicyARN"])

    def registered(self, component: str) -> bool:
        with aws_errors("DescribeScalableTargets"):
            found = self._aas.describe_scalable_targets(
                ServiceNamespace="sagemaker",
                ResourceIds=[f"inference-component/{component}"],
                ScalableDimension=COPY_DIMENSION,
            )["ScalableTargets"]
        return bool(found)

    def deregister(self, component: str) -> None:
        """Its scaling policies go with it."""
        with aws_errors("DeregisterScalableTarget"):
            self._aas.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=f"inference-component/{component}",
                ScalableDimension=COPY_DIMENSION,
            )

    def put_alarm(self, request: dict[str, Any]) -> None:
        with aws_errors("PutMetricAlarm"):
            self._cw.put_metric_alarm(**request)

    def delete_alarms(self, names: list[str]) -> list[str]:
        """Delete those of the alarms that exist; their names."""
        with aws_errors("DescribeAlarms"):
            found = self._cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
        there = [str(a["AlarmName"]) for a in found]
        if there:
            with aws_errors("DeleteAlarms"):
                self._cw.delete_alarms(AlarmNames=there)
        return there
