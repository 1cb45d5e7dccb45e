"""Plan steps for inference components: the model-less endpoint config, the component
(created or updated), its wait, and its copy scaling with the way back from zero copies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .components import (
    ComputeRequirements,
    component_endpoint_config,
    copy_scaling,
    inference_component,
    scale_from_zero,
)
from .errors import DeployError
from .resources import LEAST_OUTSTANDING, UPLOADED_TAG, Routing
from .steps import POLL_S, WAIT_LIMIT_S, Run


@dataclass(frozen=True)
class CreateComponentEndpointConfig:
    name: str
    role: str
    instance_type: str
    instance_count: int
    max_instances: int
    scale_to_zero: bool  # managed instance scaling down to 0 instances
    tags: tuple[tuple[str, str], ...]
    routing: Routing = LEAST_OUTSTANDING
    ami: str | None = None  # InferenceAmiVersion; None: SageMaker's default

    def request(self) -> dict[str, Any]:
        return component_endpoint_config(
            self.name,
            self.role,
            self.instance_type,
            self.instance_count,
            self.max_instances,
            self.scale_to_zero,
            self.routing,
            ami=self.ami,
        )

    def describe(self) -> str:
        low = 0 if self.scale_to_zero else self.instance_count
        ami = f", host AMI {self.ami}" if self.ami else ""
        return (
            f"CreateEndpointConfig {self.name}: no model in the variant (inference components), "
            f"{self.instance_count} x {self.instance_type}, managed instance scaling "
            f"{low}..{self.max_instances}, {self.routing.describe()}{ami}"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        c.components.create_endpoint_config(self.request(), dict(self.tags))
        run.undo.append(
            (f"endpoint config {self.name}", lambda: c.delete_endpoint_config(self.name))
        )


@dataclass(frozen=True)
class CreateInferenceComponent:
    name: str
    endpoint: str
    model_name: str
    reqs: ComputeRequirements
    copies: int
    tags: tuple[tuple[str, str], ...]
    startup: tuple[int, int] | None = None  # (download, health check) timeouts, seconds

    def request(self) -> dict[str, Any]:
        return inference_component(
            self.name, self.endpoint, self.model_name, self.reqs, self.copies, startup=self.startup
        )

    def describe(self) -> str:
        return (
            f"CreateInferenceComponent {self.name} on {self.endpoint}: model {self.model_name}, "
            f"{self.copies} copy(ies), {self.reqs.describe()}{_startup(self.startup)}"
        )

    def execute(self, run: Run) -> None:
        ic = run.client.components
        ic.create(self.request(), dict(self.tags))
        run.undo.append((f"inference component {self.name}", lambda: ic.delete(self.name)))


@dataclass(frozen=True)
class UpdateInferenceComponent:
    """A new model (and share) for an existing component. Its copy count is left alone, as an
    endpoint update keeps its instance count: autoscaling, or a scale to zero, owns it."""

    name: str
    endpoint: str
    model_name: str
    reqs: ComputeRequirements
    running_copies: int  # copies serving now, kept
    startup: tuple[int, int] | None = None  # (download, health check) timeouts, seconds

    def describe(self) -> str:
        return (
            f"UpdateInferenceComponent {self.name}: model {self.model_name}, keeping its "
            f"copy count ({self.running_copies}), {self.reqs.describe()}{_startup(self.startup)}"
        )

    def execute(self, run: Run) -> None:
        # A failed update rolls the component back to its previous model: nothing to undo.
        request = inference_component(
            self.name, self.endpoint, self.model_name, self.reqs, startup=self.startup
        )
        del request["RuntimeConfig"]
        run.client.components.update(request)


def _startup(startup: tuple[int, int] | None) -> str:
    if startup is None:
        return ""
    return f", download timeout {startup[0]} s, start-up health check timeout {startup[1]} s"


@dataclass(frozen=True)
class RetireComponentModel:
    """After a successful update: the model the component served before, and the data this
    tool uploaded for it unless the new model uses the same (an unchanged package)."""

    model_name: str
    keep_data: str  # the new model's data URI (may hold DIGEST)

    def describe(self) -> str:
        return (
            f"delete the component's previous model {self.model_name} and the model data this "
            "tool uploaded for it unless the new model uses it"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        try:
            data = c.model_data(self.model_name)
            uploaded = c.model_tags(self.model_name).get(UPLOADED_TAG) == "true"
            c.delete_model(self.model_name)
            if uploaded and data and data.uri != run.fill(self.keep_data):
                c.delete_model_data(data)
        except DeployError as e:  # the new model serves; a leftover is only clutter
            run.progress.status(f"warning: model {self.model_name} was not fully removed: {e}")
            run.progress.done()


@dataclass(frozen=True)
class WaitComponent:
    name: str
    model_name: str  # the model the component must serve once InService
    # An update: once InService the component serves this run's model and upload, which a
    # later failure (copy scaling) must then not roll back from under it.
    commits: bool = False

    def describe(self) -> str:
        return f"wait until inference component {self.name} is InService"

    def execute(self, run: Run) -> None:
        ic, clock = run.client.components, run.clock
        start = clock.monotonic()
        while True:
            found = ic.describe(self.name)
            if found is None:
                raise DeployError(f"inference component {self.name} disappeared while waiting")
            elapsed = clock.monotonic() - start
            run.progress.status(f"component {self.name}: {found.status} ({elapsed:.0f} s)")
            if found.status == "InService":
                run.progress.done()
                if found.model_name != self.model_name:  # a failed update, rolled back
                    raise DeployError(
                        f"SageMaker rolled component {self.name} back to {found.model_name}: "
                        f"{found.failure_reason or 'no reason given'}"
                    )
                if self.commits:
                    run.undo.clear()
                return
            if found.status in ("Failed", "Deleting"):
                raise DeployError(
                    f"inference component {self.name} is {found.status}: "
                    f"{found.failure_reason or 'no reason given'}"
                )
            if elapsed > WAIT_LIMIT_S:
                raise DeployError(f"component {self.name} not InService after {WAIT_LIMIT_S:.0f} s")
            clock.sleep(POLL_S)


@dataclass(frozen=True)
class ScaleCopies:
    """RegisterScalableTarget and target tracking on concurrent requests per copy; with
    min 0 also the step policy and NoCapacityInvocationFailures alarm that leave zero."""

    component: str
    min_copies: int
    max_copies: int

    def describe(self) -> str:
        text = (
            f"RegisterScalableTarget inference-component/{self.component}: copies "
            f"{self.min_copies}..{self.max_copies}; PutScalingPolicy {self.component}-concurrency"
            ": target 4 concurrent requests per copy"
        )
        if self.min_copies == 0:
            text += (
                f"; scale to zero: PutScalingPolicy {self.component}-from-zero (step +1 copy) "
                f"and PutMetricAlarm {self.component}-no-capacity on NoCapacityInvocationFailures"
            )
        return text

    def execute(self, run: Run) -> None:
        ic = run.client.components
        target, policy = copy_scaling(self.component, self.min_copies, self.max_copies)
        ic.register_target(target)
        # Deregistering the target deletes its policies too.
        run.undo.append(
            (f"scalable target of {self.component}", lambda: ic.deregister(self.component))
        )
        ic.put_policy(policy)
        if self.min_copies == 0:
            run.scale_up_from_zero(*scale_from_zero(self.component))
