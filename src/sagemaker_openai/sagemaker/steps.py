"""The steps of a deployment plan: each kind's description and execution side by side.

A step is frozen data; `describe` says what it will do (printed before anything runs) and
`execute` does it against a `Run`, recording how to undo what it created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .client import SageMakerClient, ScalingPolicy
from .errors import DeployError
from .package import build_package

POLL_S = 15.0  # seconds between DescribeEndpoint calls while waiting
WAIT_LIMIT_S = 3600.0  # large models on big instances can take most of an hour


class Progress(Protocol):
    def upload(self, total_bytes: int) -> Callable[[int], None]: ...
    def status(self, text: str) -> None: ...
    def done(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Run:
    """What the steps act on, and what they created (in order) so that a failure undoes it."""

    client: SageMakerClient
    progress: Progress
    clock: Clock
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)


class Step(Protocol):
    def describe(self) -> str: ...
    def execute(self, run: Run) -> None: ...


@dataclass(frozen=True)
class Package:
    model_dir: Path
    target: str
    served_name: str
    path: Path  # local model.tar.gz written by this step

    def describe(self) -> str:
        return f"package {self.model_dir} for target {self.target} -> {self.path}"

    def execute(self, run: Run) -> None:
        run.progress.status(f"packaging {self.model_dir.name} for {self.target}")
        build_package(self.model_dir, self.target, self.path, self.served_name)
        run.progress.done()


@dataclass(frozen=True)
class Upload:
    path: Path
    bucket: str
    key: str
    create_bucket: bool  # the default bucket is created when missing (and never deleted)

    def describe(self) -> str:
        return f"upload {self.path.name} to s3://{self.bucket}/{self.key}"

    def execute(self, run: Run) -> None:
        c = run.client
        if self.create_bucket:
            c.ensure_bucket(self.bucket)  # a shared default bucket: never deleted on rollback
        c.upload_file(
            self.path, self.bucket, self.key, run.progress.upload(self.path.stat().st_size)
        )
        run.progress.done()
        run.undo.append(
            (f"s3://{self.bucket}/{self.key}", lambda: c.delete_object(self.bucket, self.key))
        )


@dataclass(frozen=True)
class CreateModel:
    name: str
    image: str
    model_data_url: str
    role: str
    env: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        env = ", ".join(f"{k}={v}" for k, v in self.env) or "none"
        return (
            f"CreateModel {self.name}: image {self.image}, data {self.model_data_url}, "
            f"role {self.role}, env {env}"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        c.create_model(
            self.name, self.image, self.model_data_url, self.role, dict(self.env), dict(self.tags)
        )
        run.undo.append((f"model {self.name}", lambda: c.delete_model(self.name)))


@dataclass(frozen=True)
class CreateEndpointConfig:
    name: str
    model_name: str
    variant: str
    instance_type: str
    instance_count: int
    tags: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return (
            f"CreateEndpointConfig {self.name}: variant {self.variant}, "
            f"{self.instance_count} x {self.instance_type}"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        c.create_endpoint_config(
            self.name,
            self.model_name,
            self.variant,
            self.instance_type,
            self.instance_count,
            dict(self.tags),
        )
        run.undo.append(
            (f"endpoint config {self.name}", lambda: c.delete_endpoint_config(self.name))
        )


@dataclass(frozen=True)
class CreateEndpoint:
    name: str
    config_name: str
    tags: tuple[tuple[str, str], ...]
    checked: bool = True  # False in a dry run: whether the endpoint exists was not asked

    def describe(self) -> str:
        note = "" if self.checked else " (or UpdateEndpoint if it exists: not checked in a dry run)"
        return f"CreateEndpoint {self.name} with config {self.config_name}{note}"

    def execute(self, run: Run) -> None:
        c = run.client
        c.create_endpoint(self.name, self.config_name, dict(self.tags))
        run.undo.append((f"endpoint {self.name}", lambda: c.delete_endpoint(self.name)))


@dataclass(frozen=True)
class UpdateEndpoint:
    name: str
    config_name: str

    def describe(self) -> str:
        return f"UpdateEndpoint {self.name} to config {self.config_name}"

    def execute(self, run: Run) -> None:
        # A failed update leaves SageMaker on the previous config: nothing to undo here.
        run.client.update_endpoint(self.name, self.config_name)


@dataclass(frozen=True)
class WaitInService:
    name: str
    config_name: str  # the config the endpoint must be serving once InService

    def describe(self) -> str:
        return f"wait until {self.name} is InService on {self.config_name}"

    def execute(self, run: Run) -> None:
        c, clock = run.client, run.clock
        start = clock.monotonic()
        while True:
            ep = c.describe_endpoint(self.name)
            if ep is None:
                raise DeployError(f"endpoint {self.name} disappeared while waiting")
            elapsed = clock.monotonic() - start
            run.progress.status(f"endpoint {self.name}: {ep.status} ({elapsed:.0f} s)")
            if ep.status == "InService":
                run.progress.done()
                return
            if ep.status in ("Failed", "OutOfService", "Deleting"):
                raise DeployError(
                    f"endpoint {self.name} is {ep.status}: {ep.failure_reason or 'no reason given'}"
                )
            if elapsed > WAIT_LIMIT_S:
                raise DeployError(f"endpoint {self.name} not InService after {WAIT_LIMIT_S:.0f} s")
            clock.sleep(POLL_S)


@dataclass(frozen=True)
class RegisterScalableTarget:
    resource_id: str
    min_count: int
    max_count: int

    def describe(self) -> str:
        return f"RegisterScalableTarget {self.resource_id}: {self.min_count}..{self.max_count}"

    def execute(self, run: Run) -> None:
        c = run.client
        c.register_scalable_target(self.resource_id, self.min_count, self.max_count)
        run.undo.append(
            (
                f"scalable target {self.resource_id}",
                lambda: c.deregister_scalable_target(self.resource_id),
            )
        )


@dataclass(frozen=True)
class PutScalingPolicy:
    policy_name: str
    resource_id: str
    policy: ScalingPolicy

    def describe(self) -> str:
        return f"PutScalingPolicy {self.policy_name}: target {self.policy.describe()}"

    def execute(self, run: Run) -> None:
        # Deregistering the scalable target (its undo) deletes its policies too.
        run.client.put_target_tracking_policy(self.policy_name, self.resource_id, self.policy)


@dataclass(frozen=True)
class RetireConfig:
    """After a successful update: the config and models the endpoint no longer uses."""

    config_name: str

    def describe(self) -> str:
        return f"delete the previous config {self.config_name} and its models"

    def execute(self, run: Run) -> None:
        c = run.client
        try:
            models = {v.model_name for v in c.endpoint_config_variants(self.config_name)}
            c.delete_endpoint_config(self.config_name)
            for model in sorted(models):
                c.delete_model(model)
        except DeployError as e:  # the new config serves; a leftover is only clutter
            run.progress.status(
                f"warning: previous config {self.config_name} was not fully removed: {e}"
            )
            run.progress.done()
