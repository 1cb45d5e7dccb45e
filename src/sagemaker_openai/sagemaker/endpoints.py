"""Delete an endpoint with everything deploy made for it, and report endpoint status."""

from __future__ import annotations

from .client import SageMakerClient
from .errors import InvalidInput
from .resources import UPLOADED_TAG, Endpoint, scaling_resource_id


def delete(client: SageMakerClient, name: str, keep_model: bool) -> list[str]:
    """Delete scaling, endpoint, config and (unless keep_model) models and uploaded data."""
    ep = client.describe_endpoint(name)
    if ep is None:
        raise InvalidInput("--endpoint-name", f"no endpoint named {name} in {client.region}")
    removed = []
    for variant in ep.variants:
        resource_id = scaling_resource_id(name, variant.name)
        if client.scalable_target(resource_id) is not None:
            client.deregister_scalable_target(resource_id)  # its policies go with it
            removed.append(f"scalable target {resource_id}")
    client.delete_endpoint(name)
    removed.append(f"endpoint {name}")
    client.delete_endpoint_config(ep.config_name)
    removed.append(f"endpoint config {ep.config_name}")
    if keep_model:
        return removed
    for model in sorted({v.model_name for v in ep.variants}):
        data = client.model_data(model)
        uploaded = client.model_tags(model).get(UPLOADED_TAG) == "true"
        client.delete_model(model)
        removed.append(f"model {model}")
        if uploaded and data:
            client.delete_model_data(data)
            removed.append(data.uri)
    return removed


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
