"""Plan steps for a variant's autoscaling (Application Auto Scaling), undone by restoring it;
an async endpoint's scaling on its queue, down to zero instances."""

from __future__ import annotations

from dataclasses import dataclass

from .client import SageMakerClient
from .components import backlog_alarm_name, backlog_from_zero, backlog_policy
from .resources import ScalingPolicy
from .steps import Run


@dataclass(frozen=True)
class ScalingState:
    """A variant's autoscaling as registered: (min, max) and its target-tracking policies."""

    min_count: int
    max_count: int
    policies: tuple[tuple[str, ScalingPolicy], ...]


def _restore(c: SageMakerClient, resource_id: str, state: ScalingState) -> None:
    c.register_scalable_target(resource_id, state.min_count, state.max_count)
    for name, policy in state.policies:
        c.put_target_tracking_policy(name, resource_id, policy)


@dataclass(frozen=True)
class DeregisterScalableTarget:
    """Before an instance-type change, which SageMaker refuses while autoscaling is registered."""

    resource_id: str
    previous: ScalingState  # put back if a later step fails

    def describe(self) -> str:
        return f"DeregisterScalableTarget {self.resource_id} (the instance type changes)"

    def execute(self, run: Run) -> None:
        c = run.client
        c.deregister_scalable_target(self.resource_id)
        run.undo.append(
            (
                f"scaling of {self.resource_id} restored",
                lambda: _restore(c, self.resource_id, self.previous),
            )
        )


@dataclass(frozen=True)
class RegisterScalableTarget:
    resource_id: str
    min_count: int
    max_count: int
    previous: ScalingState | None = None  # registered before this run: restored on failure

    def describe(self) -> str:
        return f"RegisterScalableTarget {self.resource_id}: {self.min_count}..{self.max_count}"

    def execute(self, run: Run) -> None:
        c, previous = run.client, self.previous
        c.register_scalable_target(self.resource_id, self.min_count, self.max_count)
        if previous is None:
            undo = (
                f"scalable target {self.resource_id}",
                lambda: c.deregister_scalable_target(self.resource_id),
            )
        else:
            undo = (
                f"scaling of {self.resource_id} restored",
                lambda: _restore(c, self.resource_id, previous),
            )
        run.undo.append(undo)


@dataclass(frozen=True)
class PutScalingPolicy:
    policy_name: str
    resource_id: str
    policy: ScalingPolicy

    def describe(self) -> str:
        return f"PutScalingPolicy {self.policy_name}: target {self.policy.describe()}"

    def execute(self, run: Run) -> None:
        # Undone with the scalable target: deregistering it deletes its policies too.
        run.client.put_target_tracking_policy(self.policy_name, self.resource_id, self.policy)


@dataclass(frozen=True)
class ScaleOnBacklog:
    """An async endpoint's instances tracking its queue; at MIN 0 also the step policy and
    HasBacklogWithoutCapacity alarm that bring it back from zero instances."""

    endpoint: str
    variant: str
    min_count: int
    backlog_per_instance: float

    def describe(self) -> str:
        text = (
            f"PutScalingPolicy {self.endpoint}-target-tracking: target "
            f"{self.backlog_per_instance:g} ApproximateBacklogSizePerInstance (queued requests "
            "per instance)"
        )
        if self.min_count == 0:
            text += (
                "; scale up from zero: PutScalingPolicy HasBacklogWithoutCapacity-ScalingPolicy "
                f"(step +1 instance) and PutMetricAlarm {backlog_alarm_name(self.endpoint)}"
            )
        return text

    def execute(self, run: Run) -> None:
        aas = run.client.components  # the raw Application Auto Scaling and CloudWatch calls
        # Undone with the scalable target: deregistering it deletes its policies too.
        aas.put_policy(backlog_policy(self.endpoint, self.backlog_per_instance, self.variant))
        if self.min_count == 0:
            run.scale_up_from_zero(*backlog_from_zero(self.endpoint, self.variant))
