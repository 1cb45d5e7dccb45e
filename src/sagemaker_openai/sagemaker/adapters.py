"""deploy --adapter: a LoRA adapter as an inference component served by a base component's
copies (BaseInferenceComponentName, ArtifactUrl), created or pointed at new weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from .client import SageMakerClient
from .component_steps import WaitComponent
from .components import adapter_component
from .deploy import execute
from .errors import InvalidInput
from .options import ENDPOINT_NAME
from .plan import Plan, format_plan
from .resources import TAG_PREFIX
from .steps import Clock, Progress, Run, Step, SystemClock


@dataclass(frozen=True)
class AdapterOptions:
    endpoint_name: str
    adapter: str
    artifact_url: str  # s3:// URI of the adapter's files (a folder or a tarball)
    base: str  # the inference component whose copies serve it
    region: str
    wait: bool = True


@dataclass(frozen=True)
class CreateAdapterComponent:
    name: str
    endpoint: str
    base: str
    artifact_url: str
    update: bool  # the adapter exists: UpdateInferenceComponent to the new artifact
    checked: bool = True  # False in a dry run

    def describe(self) -> str:
        verb = "UpdateInferenceComponent" if self.update else "CreateInferenceComponent"
        note = "" if self.checked else " (or Update if it exists: not checked in a dry run)"
        return (
            f"{verb} {self.name} on {self.endpoint}: LoRA adapter {self.artifact_url} "
            f"on base component {self.base}{note}"
        )

    def execute(self, run: Run) -> None:
        ic = run.client.components
        request = adapter_component(self.name, self.endpoint, self.base, self.artifact_url)
        if self.update:
            ic.update(request)
            return
        tags = {f"{TAG_PREFIX}:endpoint": self.endpoint, f"{TAG_PREFIX}:base": self.base}
        ic.create(request, tags)
        run.undo.append((f"inference component {self.name}", lambda: ic.delete(self.name)))


def check_adapter(opts: AdapterOptions) -> None:
    for flag, name in (
        ("--endpoint-name", opts.endpoint_name),
        ("--adapter", opts.adapter),
        ("--base-component", opts.base),
    ):
        if not ENDPOINT_NAME.match(name):
            raise InvalidInput(flag, f"{name!r} must be 1-63 letters, digits or hyphens")
    if not opts.artifact_url.startswith("s3://"):
        raise InvalidInput("--adapter-s3", f"{opts.artifact_url!r} is not an s3:// URI")
    if opts.adapter == opts.base:
        raise InvalidInput("--adapter", "must differ from --base-component")


def deploy_adapter(
    opts: AdapterOptions,
    client: SageMakerClient | None,
    out: TextIO,
    progress: Progress,
    clock: Clock | None = None,
) -> Plan:
    """Check the base serves on the endpoint, print the plan, run it (unless a dry run)."""
    check_adapter(opts)
    exists = False
    if client is not None:
        ic = client.components
        base = ic.describe(opts.base)
        if base is None or not base.model_name:
            raise InvalidInput(
                "--base-component", f"no model inference component {opts.base} to serve it"
            )
        if opts.base not in ic.names(opts.endpoint_name):
            raise InvalidInput(
                "--base-component", f"{opts.base} is not on endpoint {opts.endpoint_name}"
            )
        exists = ic.describe(opts.adapter) is not None
    steps: list[Step] = [
        CreateAdapterComponent(
            opts.adapter,
            opts.endpoint_name,
            opts.base,
            opts.artifact_url,
            update=exists,
            checked=client is not None,
        )
    ]
    if opts.wait:
        steps.append(WaitComponent(opts.adapter, ""))  # an adapter names no model
    summary = f"LoRA adapter {opts.adapter} on inference component {opts.base}"
    plan = Plan(opts.endpoint_name, opts.region, summary, tuple(steps), dry_run=client is None)
    print(format_plan(plan), file=out, flush=True)
    if client is None:
        return plan
    execute(plan, client, progress, clock or SystemClock())
    done = "is ready" if opts.wait else "is being created; see `sagemaker-openai status`"
    print(f"adapter {opts.adapter} {done}", file=out, flush=True)
    return plan
