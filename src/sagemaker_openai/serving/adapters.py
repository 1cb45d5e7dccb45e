"""LoRA adapters on the wire, after aws/model-hosting-container-standards (commit d77870c,
python/.../sagemaker/lora): `POST /adapters` registers (name, src, preload, pin, in a JSON body
or, without one, the query string), `DELETE /adapters/{adapter_name}` unregisters, and a chat
request names its adapter in the `X-Amzn-SageMaker-Adapter-Identifier` header or its `model`.
Success is a 200 with the standard's text; errors are OpenAI-shaped, with vLLM's statuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engines.base import MAX_LORA_RANK, AdapterRejected, Adapters
from ..errors import InvalidRequest, NotFound

ADAPTER_HEADER = "x-amzn-sagemaker-adapter-identifier"
ALIAS_HEADER = "x-amzn-sagemaker-adapter-alias"  # the name success messages use, if sent
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterNotFound(NotFound):
    """404, as vLLM behind the standard answers a request or unload naming no loaded adapter."""

    def __init__(self, name: str):
        # the standard's ResponseMessage.ADAPTER_NOT_FOUND
        super().__init__(
            f"The adapter {name} was not found.", param="model", code="adapter_not_found"
        )


class AdaptersOff(InvalidRequest):
    def __init__(self) -> None:
        super().__init__(
            "LoRA adapters are off on this server: start it with --max-loras N "
            "(SM_VLLM_MAX_LORAS) to register up to N adapters.",
            code="adapters_disabled",
        )


@dataclass(frozen=True)
class Registration:
    """A validated register request (the standard's SageMakerRegisterLoRAAdapterRequest)."""

    name: str
    src: Path
    preload: bool = True  # accepted; adapters always load at registration here
    pin: bool = False  # accepted; adapters here are never evicted, so all are pinned


def parse_registration(body: bytes, query: Mapping[str, str]) -> Registration:
    """The fields from the JSON body, or from the query string when the body is not JSON (the
    standard's register transform falls back so)."""
    try:
        fields: Mapping[str, Any] = json.loads(body) if body.strip() else query
    except (json.JSONDecodeError, UnicodeDecodeError):
        fields = query
    if not isinstance(fields, Mapping):
        raise InvalidRequest("The body must be a JSON object with name and src.")
    name, src = fields.get("name"), fields.get("src")
    for key, value in (("name", name), ("src", src)):
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"The parameter {key} must be a non-empty string.", param=key)
    assert isinstance(name, str) and isinstance(src, str)
    preload, pin = _flag(fields, "preload", True), _flag(fields, "pin", False)
    return Registration(name, check_source(src), preload, pin)


def _flag(fields: Mapping[str, Any], key: str, default: bool) -> bool:
    value = fields.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"  # from a query string
    if not isinstance(value, bool):
        raise InvalidRequest(f"The parameter {key} must be true or false.", param=key)
    return value


def check_source(src: str) -> Path:
    """A local folder holding a PEFT LoRA adapter, else a 400 naming src."""
    if "://" in src:
        raise InvalidRequest(
            f"src must be a local folder, not {src!r}: SageMaker downloads an adapter "
            "component's ArtifactUrl and registers its local copy.",
            param="src",
        )
    path = Path(src)
    if not path.is_dir():
        raise InvalidRequest(f"src {src!r} is not a folder on this server.", param="src")
    config_file = path / "adapter_config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        raise _not_lora(src, "it has no readable adapter_config.json") from None
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        kind = config.get("peft_type") if isinstance(config, dict) else None
        raise _not_lora(src, f"its adapter_config.json has peft_type {kind!r}, not 'LORA'")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise _not_lora(src, f"it has none of {', '.join(WEIGHT_FILES)}")
    rank = config.get("r")
    if not isinstance(rank, int) or not 0 < rank <= MAX_LORA_RANK:
        raise _not_lora(src, f"its rank r={rank!r} is not between 1 and {MAX_LORA_RANK}")
    return path


def _not_lora(src: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"src {src!r} is not a LoRA adapter: {why}.", param="src")


async def register(
    adapters: Adapters | None, reg: Registration, base: str, limit: int, alias: str | None = None
) -> str:
    """Load the adapter; the standard's success text."""
    adapters = _on(adapters)
    if reg.name == base:
        raise InvalidRequest(f"The adapter name {reg.name} is the base model's name.", param="name")
    if reg.name in adapters.names:
        raise InvalidRequest(
            f"The adapter {reg.name} is already registered; unregister it first to replace it.",
            param="name",
        )
    if len(adapters.names) >= limit:
        raise InvalidRequest(
            f"This server holds at most {limit} adapters (--max-loras); unregister one first.",
            param="name",
            code="too_many_adapters",
        )
    try:
        await adapters.add(reg.name, reg.src)
    except AdapterRejected as exc:
        raise InvalidRequest(f"src {str(reg.src)!r} cannot be served: {exc}.", param="src") from exc
    return f"Adapter {alias or reg.name} registered"


async def unregister(adapters: Adapters | None, name: str, alias: str | None = None) -> str:
    adapters = _on(adapters)
    if name not in adapters.names:
        raise AdapterNotFound(name)
    await adapters.remove(name)
    return f"Adapter {alias or name} unregistered"


def pick_adapter(adapters: Adapters | None, header: str | None, model: str | None) -> str | None:
    """The adapter a chat request names: the header (which must name one), else `model` when it
    is a registered adapter's name (any other `model` is the base, as ever: CONTRACT.md)."""
    names = adapters.names if adapters else frozenset()
    if header:
        if header not in names:
            raise AdapterNotFound(header)
        return header
    return model if model in names else None


def _on(adapters: Adapters | None) -> Adapters:
    if adapters is None:
        raise AdaptersOff()
    return adapters
