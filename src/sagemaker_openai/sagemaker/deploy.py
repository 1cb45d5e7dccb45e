"""Execute a deployment plan step by step; on failure remove only what this run created."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TextIO

from .client import Endpoint, SageMakerClient
from .errors import DeployError, StepFailed
from .package import build_package
from .plan import (
    CreateEndpoint,
    CreateEndpointConfig,
    CreateModel,
    DeployOptions,
    Package,
    Plan,
    PutScalingPolicy,
    RegisterScalableTarget,
    Step,
    UpdateEndpoint,
    Upload,
    WaitInService,
    build_plan,
    format_plan,
)

POLL_S = 15.0  # seconds between DescribeEndpoint calls while waiting
WAIT_LIMIT_S = 3600.0  # large models on big instances can take most of an hour


class Progress(Protocol):
    def upload(self, total_bytes: int) -> Callable[[int], None]: ...
    def status(self, text: str) -> None: ...
    def done(self) -> None: ...


class TerminalProgress:
    """A one-line progress bar and status line on a terminal stream (stderr)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out

    def upload(self, total_bytes: int) -> Callable[[int], None]:
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            filled = int(30 * sent / max(total_bytes, 1))
            mib = f"{sent / 2**20:.1f}/{total_bytes / 2**20:.1f} MiB"
            self.out.write(f"\r  upload [{'#' * filled}{'.' * (30 - filled)}] {mib}")
            self.out.flush()

        return advance

    def status(self, text: str) -> None:
        self.out.write(f"\r  {text}\033[K")
        self.out.flush()

    def done(self) -> None:
        self.out.write("\n")
        self.out.flush()


def deploy(
    opts: DeployOptions,
    client: SageMakerClient | None,
    out: TextIO,
    progress: Progress,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Plan:
    """Plan (validating locally first), print, and unless dry_run execute. `client` may be None
    in a dry run: nothing is called."""
    plan = build_plan(
        opts, account=None, current_config=False, now=now
    )  # local checks before any call
    if not dry_run:
        if client is None:
            raise DeployError("an AWS client is needed to deploy")
        account = client.account_id()  # also proves there are credentials
        current = client.describe_endpoint(opts.endpoint_name)
        if current is not None and current.status not in ("InService", "Failed"):
            raise DeployError(
                f"endpoint {opts.endpoint_name} is {current.status}; wait until it is InService"
            )
        # A Failed endpoint cannot be updated; it must be deleted and created anew.
        if current is not None and current.status == "Failed":
            raise DeployError(
                f"endpoint {opts.endpoint_name} is Failed "
                f"({current.failure_reason}); run `sagemaker-openai delete` first"
            )
        config = current.config_name if current else None
        plan = build_plan(opts, account=account, current_config=config, now=now)
    print(format_plan(plan, dry_run), file=out, flush=True)
    if not dry_run:
        assert client is not None
        execute(plan, client, progress)
        print(
            f"endpoint {plan.endpoint_name} is ready"
            if opts.wait
            else f"endpoint {plan.endpoint_name} is being created; see `sagemaker-openai status`",
            file=out,
            flush=True,
        )
    return plan


@dataclass
class _Run:
    client: SageMakerClient
    progress: Progress
    sleep: Callable[[float], None]
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)


def execute(
    plan: Plan,
    client: SageMakerClient,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run each step; if one fails, undo the earlier ones in reverse and raise StepFailed."""
    run = _Run(client, progress, sleep)
    try:
        for step in plan.steps:
            try:
                _run_step(step, run)
            except (DeployError, KeyboardInterrupt) as e:
                progress.done()
                reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
                raise StepFailed(_title(step), reason, _rollback(run)) from e
        for step in plan.steps:
            if isinstance(step, UpdateEndpoint) and step.previous_config:
                _retire(client, step.previous_config, progress)
    finally:
        for step in plan.steps:
            if isinstance(step, Package):
                step.path.unlink(missing_ok=True)


def _run_step(step: Step, run: _Run) -> None:
    c = run.client
    if isinstance(step, Package):
        run.progress.status(f"packaging {step.model_dir.name} for {step.target}")
        build_package(step.model_dir, step.target, step.path, step.served_name)
        run.progress.done()
    elif isinstance(step, Upload):
        if step.create_bucket:
            c.ensure_bucket(step.bucket)  # a shared default bucket: never deleted on rollback
        c.upload_file(
            step.path, step.bucket, step.key, run.progress.upload(step.path.stat().st_size)
        )
        run.progress.done()
        run.undo.append(
            (f"s3://{step.bucket}/{step.key}", lambda: c.delete_object(step.bucket, step.key))
        )
    elif isinstance(step, CreateModel):
        c.create_model(
            step.name, step.image, step.model_data_url, step.role, dict(step.env), dict(step.tags)
        )
        run.undo.append((f"model {step.name}", lambda: c.delete_model(step.name)))
    elif isinstance(step, CreateEndpointConfig):
        c.create_endpoint_config(
            step.name,
            step.model_name,
            step.variant,
            step.instance_type,
            step.instance_count,
            dict(step.tags),
        )
        run.undo.append(
            (f"endpoint config {step.name}", lambda: c.delete_endpoint_config(step.name))
        )
    elif isinstance(step, CreateEndpoint):
        c.create_endpoint(step.name, step.config_name, dict(step.tags))
        run.undo.append((f"endpoint {step.name}", lambda: c.delete_endpoint(step.name)))
    elif isinstance(step, UpdateEndpoint):
        # A failed update leaves SageMaker on the previous config: nothing to undo here.
        c.update_endpoint(step.name, step.config_name)
    elif isinstance(step, WaitInService):
        _wait(c, step.name, run)
    elif isinstance(step, RegisterScalableTarget):
        c.register_scalable_target(step.resource_id, step.min_count, step.max_count)
        run.undo.append(
            (
                f"scalable target {step.resource_id}",
                lambda: c.deregister_scalable_target(step.resource_id),
            )
        )
    elif isinstance(step, PutScalingPolicy):
        # Deregistering the scalable target (undo above) deletes its policies too.
        c.put_target_tracking_policy(
            step.policy_name, step.resource_id, step.invocations_per_instance
        )


def _wait(client: SageMakerClient, name: str, run: _Run) -> Endpoint:
    deadline = time.monotonic() + WAIT_LIMIT_S
    start = time.monotonic()
    while True:
        ep = client.describe_endpoint(name)
        if ep is None:
            raise DeployError(f"endpoint {name} disappeared while waiting")
        run.progress.status(f"endpoint {name}: {ep.status} ({time.monotonic() - start:.0f} s)")
        if ep.status == "InService":
            run.progress.done()
            return ep
        if ep.status in ("Failed", "OutOfService", "Deleting"):
            raise DeployError(
                f"endpoint {name} is {ep.status}: {ep.failure_reason or 'no reason given'}"
            )
        if time.monotonic() > deadline:
            raise DeployError(f"endpoint {name} not InService after {WAIT_LIMIT_S:.0f} s")
        run.sleep(POLL_S)


def _rollback(run: _Run) -> list[str]:
    """Undo in reverse; a failing undo is named in the list, never hidden."""
    done = []
    for label, undo in reversed(run.undo):
        try:
            undo()
            done.append(label)
        except DeployError as e:
            done.append(f"{label} (NOT removed: {e})")
    return done


def _retire(client: SageMakerClient, config: str, progress: Progress) -> None:
    """After an update: remove the config and models the endpoint no longer uses."""
    try:
        models = {v.model_name for v in client.endpoint_config_variants(config)}
        client.delete_endpoint_config(config)
        for model in sorted(models):
            client.delete_model(model)
    except DeployError as e:
        progress.status(f"warning: previous config {config} was not fully removed: {e}")
        progress.done()


def _title(step: Step) -> str:
    return type(step).__name__
