"""Execute a deployment plan step by step; on failure remove only what this run created."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from typing import TextIO

from .client import SageMakerClient
from .errors import DeployError, InvalidInput, StepFailed
from .plan import VARIANT, DeployOptions, Plan, RemoteState, build_plan, check_options, format_plan
from .resources import scaling_resource_id
from .scaling import ScalingState
from .steps import Clock, Package, Progress, Run, SystemClock


def deploy(
    opts: DeployOptions,
    client: SageMakerClient | None,
    out: TextIO,
    progress: Progress,
    now: datetime | None = None,
    clock: Clock | None = None,
) -> Plan:
    """Check locally, ask AWS what exists (unless `client` is None: a dry run, nothing is
    called), print the plan, and execute it when there is a client."""
    check_options(opts)  # every local mistake is reported before the first AWS call
    if client and opts.routing.strategy == "PREFIX_AWARE" and not client.knows_routing_settings():
        raise InvalidInput("--routing", "PREFIX_AWARE needs a newer botocore: pip install -U boto3")
    remote = read_remote(client, opts.endpoint_name, opts.component.name) if client else None
    plan = build_plan(opts, remote, now or datetime.now(timezone.utc))
    print(format_plan(plan), file=out, flush=True)
    if client is None:
        return plan
    execute(plan, client, progress, clock or SystemClock())
    print(
        f"endpoint {plan.endpoint_name} is ready"
        if opts.wait
        else f"endpoint {plan.endpoint_name} is being created; see `sagemaker-openai status`",
        file=out,
        flush=True,
    )
    return plan


def read_remote(
    client: SageMakerClient, endpoint_name: str, component: str | None = None
) -> RemoteState:
    """The account (which also proves there are credentials), the endpoint and the named
    inference component, if any."""
    account = client.account_id()
    current = client.describe_endpoint(endpoint_name)
    if current is not None and current.status == "Failed":
        # A Failed endpoint cannot be updated; it must be deleted and created anew.
        raise DeployError(
            f"endpoint {endpoint_name} is Failed ({current.failure_reason}); "
            "run `sagemaker-openai delete` first"
        )
    if current is not None and current.status != "InService":
        raise DeployError(
            f"endpoint {endpoint_name} is {current.status}; wait until it is InService"
        )
    if current is None:
        return RemoteState(account, None)
    resource_id = scaling_resource_id(endpoint_name, VARIANT)
    registered = client.scalable_target(resource_id)
    scaling = (
        ScalingState(*registered, client.scaling_policies(resource_id)) if registered else None
    )
    found = client.components.describe(component) if component else None
    return RemoteState(account, current, scaling, found)


def execute(plan: Plan, client: SageMakerClient, progress: Progress, clock: Clock) -> None:
    """Run each step; if one fails, undo the earlier ones in reverse and raise StepFailed."""
    run = Run(client, progress, clock)
    try:
        for step in plan.steps:
            try:
                step.execute(run)
            except (DeployError, KeyboardInterrupt) as e:
                progress.done()
                reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
                raise StepFailed(type(step).__name__, reason, _rollback(run)) from e
    finally:
        for step in plan.steps:
            if isinstance(step, Package):
                shutil.rmtree(step.workdir, ignore_errors=True)


def _rollback(run: Run) -> list[str]:
    """Undo in reverse; a failing undo is named in the list, never hidden."""
    done = []
    for label, undo in reversed(run.undo):
        try:
            undo()
            done.append(label)
        except DeployError as e:
            done.append(f"{label} (NOT removed: {e})")
    return done
