"""The steps of a deployment plan: each kind's description and execution side by side.

A step is frozen data; `describe` says what it will do (printed before anything runs) and
`execute` does it against a `Run`, recording how to undo what it created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .client import SageMakerClient
from .components import async_inference_config
from .errors import DeployError
from .package import Contents, package_contents, write_tarball
from .resources import EXTRA_MOUNT, UPLOADED_TAG, ModelData, Routing
from .sizing import VariantSettings
from .wheelhouse import ensure_wheelhouse

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


DIGEST = "{sha256}"  # in keys and URLs of the plan: the package's digest, known once built


@dataclass(frozen=True)
class Built:
    contents: Contents
    digest: str
    tarball: Path | None  # None: uploaded as separate files


@dataclass
class Run:
    """What the steps act on, and what they created (in order) so that a failure undoes it."""

    client: SageMakerClient
    progress: Progress
    clock: Clock
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    built: Built | None = None  # set by Package

    def fill(self, text: str) -> str:
        """`text` with the package digest in place of DIGEST."""
        return text.replace(DIGEST, self.built.digest) if self.built else text

    def scale_up_from_zero(
        self, step: dict[str, Any], alarm: Callable[[str], dict[str, Any]]
    ) -> None:
        """Put the step scaling policy that leaves zero, then the CloudWatch alarm that fires it
        (built from the policy's ARN); the alarm is undone on failure (the policy goes with its
        scalable target when that is deregistered)."""
        aas = self.client.components  # the raw Application Auto Scaling and CloudWatch calls
        request = alarm(aas.put_policy(step))
        aas.put_alarm(request)
        name = request["AlarmName"]

        def drop_alarm() -> None:
            aas.delete_alarms([name])

        self.undo.append((f"alarm {name}", drop_alarm))


class Step(Protocol):
    def describe(self) -> str: ...
    def execute(self, run: Run) -> None: ...


@dataclass(frozen=True)
class Package:
    model_dir: Path | None  # None: the handler alone, the container fetches the model
    target: str
    served_name: str
    workdir: Path  # generated files and the tarball; removed when the run ends
    compressed: bool
    wheelhouse_cache: Path | None  # where dependency wheels are cached; None: none shipped

    def describe(self) -> str:
        form = "model.tar.gz" if self.compressed else "files (uncompressed)"
        deps = ", dependency wheels included" if self.wheelhouse_cache else ""
        what = self.model_dir or "the handler alone (no weights)"
        return f"package {what} for target {self.target} as {form}{deps}"

    def execute(self, run: Run) -> None:
        what = self.model_dir.name if self.model_dir else "the handler"
        run.progress.status(f"packaging {what} for {self.target}")
        house = ensure_wheelhouse(self.wheelhouse_cache) if self.wheelhouse_cache else None
        contents = package_contents(
            self.model_dir, self.target, self.served_name, self.workdir, house
        )
        for warning in contents.warnings():
            run.progress.status(f"warning: {warning}")
            run.progress.done()
        tarball = (
            write_tarball(contents, self.workdir / "model.tar.gz") if self.compressed else None
        )
        run.built = Built(contents, contents.digest(), tarball)
        run.progress.done()


@dataclass(frozen=True)
class Upload:
    bucket: str
    prefix: str  # a key prefix ending in DIGEST + "/"
    create_bucket: bool  # the default bucket is created when missing (and never deleted)

    def describe(self) -> str:
        return (
            f"upload to s3://{self.bucket}/{self.prefix} unless a package with the same "
            "sha256 is already there"
        )

    def execute(self, run: Run) -> None:
        c, built = run.client, run.built
        assert built is not None, "Upload runs after Package"
        if self.create_bucket:
            c.ensure_bucket(self.bucket)  # a shared default bucket: never deleted on rollback
        prefix = run.fill(self.prefix)
        files = (
            {prefix + "model.tar.gz": built.tarball}
            if built.tarball
            else {prefix + m.arcname: m.path for m in built.contents.members}
        )
        there = c.object_sizes(self.bucket, prefix)
        missing = {k: p for k, p in files.items() if there.get(k) != p.stat().st_size}
        if not missing:
            run.progress.status(f"s3://{self.bucket}/{prefix} already holds this package")
            run.progress.done()
            return
        advance = run.progress.upload(sum(p.stat().st_size for p in missing.values()))
        for key, path in missing.items():
            c.upload_file(path, self.bucket, key, advance)
            run.undo.append(
                (f"s3://{self.bucket}/{key}", partial(c.delete_object, self.bucket, key))
            )
        run.progress.done()


@dataclass(frozen=True)
class CreateModel:
    name: str
    image: str
    model_data: ModelData | None  # its uri may hold DIGEST; None: the container fetches
    role: str
    env: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    extra_prefix: str | None = None  # an S3 prefix of weights, mounted beside the handler

    def describe(self) -> str:
        env = ", ".join(f"{k}={v}" for k, v in self.env) or "none"
        data = self.model_data.uri if self.model_data else "none"
        if self.extra_prefix:
            data += f" and {self.extra_prefix} (uncompressed, at {EXTRA_MOUNT})"
        return (
            f"CreateModel {self.name}: image {self.image}, data {data}, role {self.role}, env {env}"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        data = self.model_data and replace(self.model_data, uri=run.fill(self.model_data.uri))
        c.create_model(
            self.name,
            self.image,
            data,
            self.role,
            dict(self.env),
            dict(self.tags),
            self.extra_prefix,
        )
        run.undo.append((f"model {self.name}", lambda: c.delete_model(self.name)))


@dataclass(frozen=True)
class AsyncConfig:
    """An asynchronous endpoint's AsyncInferenceConfig: result and failure paths, SNS topics."""

    output: str
    failure: str | None = None
    success_topic: str | None = None
    error_topic: str | None = None

    def to_api(self) -> dict[str, Any]:
        return async_inference_config(
            self.output, self.failure, self.success_topic, self.error_topic
        )


@dataclass(frozen=True)
class CreateEndpointConfig:
    name: str
    model_name: str
    variant: str
    instance_type: str
    instance_count: int
    settings: VariantSettings
    tags: tuple[tuple[str, str], ...]
    async_config: AsyncConfig | None = None
    routing: Routing | None = None  # None: SageMaker's default

    def describe(self) -> str:
        kind = f", asynchronous: results to {self.async_config.output}" if self.async_config else ""
        routing = f", {self.routing.describe()}" if self.routing else ""
        return (
            f"CreateEndpointConfig {self.name}: variant {self.variant}, "
            f"{self.instance_count} x {self.instance_type}, {self.settings.describe()}{kind}"
            + routing
        )

    def execute(self, run: Run) -> None:
        c = run.client
        c.create_endpoint_config(
            self.name,
            self.model_name,
            self.variant,
            self.instance_type,
            self.instance_count,
            self.settings,
            dict(self.tags),
            self.async_config.to_api() if self.async_config else None,
            self.routing,
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
    if_exists: str = "or UpdateEndpoint if it exists"  # what a real run does instead

    def describe(self) -> str:
        note = "" if self.checked else f" ({self.if_exists}: not checked in a dry run)"
        return f"CreateEndpoint {self.name} with config {self.config_name}{note}"

    def execute(self, run: Run) -> None:
        c = run.client
        c.create_endpoint(self.name, self.config_name, dict(self.tags))
        run.undo.append((f"endpoint {self.name}", lambda: c.delete_endpoint(self.name)))


@dataclass(frozen=True)
class UpdateEndpoint:
    name: str
    config_name: str
    retain_variants: bool  # RetainAllVariantProperties: keep the running instance count
    running_count: int  # instances serving now (the count an update keeps)

    def describe(self) -> str:
        keep = (
            f", keeping the running instance count ({self.running_count}) and weights "
            "(--no-retain-variants to apply --instance-count)"
            if self.retain_variants
            else ", instance count and weights from the new config"
        )
        return f"UpdateEndpoint {self.name} to config {self.config_name}{keep}"

    def execute(self, run: Run) -> None:
        # A failed update leaves SageMaker on the previous config: nothing to undo here.
        run.client.update_endpoint(self.name, self.config_name, self.retain_variants)


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
                if ep.config_name != self.config_name:
                    # A failed update: SageMaker is back InService on the previous config.
                    raise DeployError(
                        f"SageMaker rolled endpoint {self.name} back to {ep.config_name}: "
                        f"{ep.failure_reason or 'no reason given'}"
                    )
                return
            if ep.status in ("Failed", "OutOfService", "Deleting"):
                raise DeployError(
                    f"endpoint {self.name} is {ep.status}: {ep.failure_reason or 'no reason given'}"
                )
            if elapsed > WAIT_LIMIT_S:
                raise DeployError(f"endpoint {self.name} not InService after {WAIT_LIMIT_S:.0f} s")
            clock.sleep(POLL_S)


@dataclass(frozen=True)
class RetireConfig:
    """After a successful update: the config, models and uploads the endpoint no longer uses."""

    config_name: str
    keep_data: str  # the new model's data URI (may hold DIGEST): shared with an unchanged package

    def describe(self) -> str:
        return (
            f"delete the previous config {self.config_name}, its models, and the model data "
            "this tool uploaded for them unless the new model uses it"
        )

    def execute(self, run: Run) -> None:
        c = run.client
        try:
            models = {v.model_name for v in c.endpoint_config_variants(self.config_name)}
            c.delete_endpoint_config(self.config_name)
            for model in sorted(models):
                data = c.model_data(model)
                uploaded = c.model_tags(model).get(UPLOADED_TAG) == "true"
                c.delete_model(model)
                if uploaded and data and data.uri != run.fill(self.keep_data):
                    c.delete_model_data(data)
        except DeployError as e:  # the new config serves; a leftover is only clutter
            run.progress.status(
                f"warning: previous config {self.config_name} was not fully removed: {e}"
            )
            run.progress.done()
