"""Delete an endpoint with everything deploy made for it, and report endpoint status."""

from __future__ import annotations

import time
from collections.abc import Callable

from .client import SageMakerClient
from .component_client import Component
from .components import backlog_alarm_name
from .errors import DeployError, InvalidInput
from .resources import UPLOADED_TAG, Endpoint, scaling_resource_id

GONE_POLL_S = 10.0  # seconds between listings while components are being deleted
GONE_LIMIT_S = 1800.0


def delete(
    client: SageMakerClient,
    name: str,
    keep_model: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Delete components (and their scaling), scaling (and an async endpoint's alarm),
    endpoint, config and (unless keep_model) models and uploaded data."""
    ep = client.describe_endpoint(name)
    if ep is None:
        raise InvalidInput("--endpoint-name", f"no endpoint named {name} in {client.region}")
    removed: list[str] = []
    models = {v.model_name for v in ep.variants if v.model_name}
    if not all(v.model_name for v in ep.variants):  # an inference-component endpoint
        models |= _delete_components(client, name, removed, sleep)
    for variant in ep.variants:
        resource_id = scaling_resource_id(name, variant.name)
        if client.scalable_target(resource_id) is not None:
            client.deregister_scalable_target(resource_id)  # its policies go with it
            removed.append(f"scalable target {resource_id}")
            # An async endpoint scaled to zero also has the alarm that brings it back.
            alarms = client.components.delete_alarms([backlog_alarm_name(name)])
            removed += [f"alarm {a}" for a in alarms]
    client.delete_endpoint(name)
    removed.append(f"endpoint {name}")
    client.delete_endpoint_config(ep.config_name)
    removed.append(f"endpoint config {ep.config_name}")
    if keep_model:
        return removed
    for model in sorted(models):
        data = client.model_data(model)
        uploaded = client.model_tags(model).get(UPLOADED_TAG) == "true"
        client.delete_model(model)
        removed.append(f"model {model}")
        if uploaded and data:
            client.delete_model_data(data)
            removed.append(data.uri)
    return removed


def _delete_components(
    client: SageMakerClient, endpoint: str, removed: list[str], sleep: Callable[[float], None]
) -> set[str]:
    """Adapters before their bases, each one's copy scaling and alarm first; then wait until
    SageMaker has removed them all (DeleteEndpoint is refused while any remain). The models
    they served."""
    ic = client.components
    found = [c for c in (ic.describe(n) for n in ic.names(endpoint)) if c is not None]
    for comp in sorted(found, key=lambda c: c.base == ""):  # adapters first
        if ic.registered(comp.name):
            ic.deregister(comp.name)  # its policies go with it
            removed.append(f"scalable target inference-component/{comp.name}")
        removed += [f"alarm {a}" for a in ic.delete_alarms([f"{comp.name}-no-capacity"])]
        if comp.status != "Deleting":
            ic.delete(comp.name)
        removed.append(f"inference component {comp.name}")
    waited = 0.0
    while ic.names(endpoint):
        if waited > GONE_LIMIT_S:
            raise DeployError(f"inference components of {endpoint} not gone after {waited:.0f} s")
        sleep(GONE_POLL_S)
        waited += GONE_POLL_S
    return {c.model_name for c in found if c.model_name}


def components(client: SageMakerClient, ep: Endpoint) -> list[Component]:
    """The inference components of an endpoint whose config holds no model; else none."""
    if all(v.model_name for v in ep.variants):
        return []  # a classic endpoint: not even asked (one call fewer per endpoint)
    ic = client.components
    return [c for c in (ic.describe(n) for n in ic.names(ep.name)) if c is not None]


def format_components(found: list[Component]) -> str:
    rows = [("  COMPONENT", "STATUS", "COPIES", "MODEL")]
    for c in found:
        model = c.model_name or f"adapter on {c.base}"
        rows.append((f"  {c.name}", c.status, str(c.copies), model))
        if c.failure_reason:
            rows.append((f"  {c.name}", "reason:", c.failure_reason, ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def status(client: SageMakerClient, name: str | None) -> list[Endpoint]:
    """One endpoint, or all in the region."""
    if name is not None:
        ep = client.describe_endpoint(name)
        if ep is None:
            raise InvalidInput("NAME", f"no endpoint named {name} in {client.region}")
        return [ep]
    found = (client.describe_endpoint(n) for n in client.list_endpoint_names())
    return [ep for ep in found if ep is not None]


def format_status(endpoints: list[Endpoint]) -> str:
    if not endpoints:
        return "no endpoints"
    rows = [("ENDPOINT", "STATUS", "INSTANCE", "COUNT", "VARIANT", "CREATED")]
    for ep in endpoints:
        for v in ep.variants or ():
            rows.append(
                (
                    ep.name,
                    ep.status,
                    v.instance_type,
                    str(v.instance_count),
                    v.name,
                    ep.created.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
                )
            )
        if ep.failure_reason:
            rows.append((ep.name, "reason:", ep.failure_reason, "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
