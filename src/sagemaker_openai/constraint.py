"""What decoding must follow: a response_format schema, or the tool-call schema of tool_choice
"required" or a named tool; checked by the engine before any byte of a stream is sent."""

from __future__ import annotations

import json
from typing import Any

from .engines.base import Engine, Guided
from .errors import InvalidRequest
from .toolcalls import ToolChoice, check_schema


def decoding_constraint(
    engine: Engine, response_format: dict[str, Any] | None, tools: ToolChoice | None
) -> Guided | None:
    """The Guided constraint of a request, or None for free text; a 400 naming the parameter
    whose schema is not valid or that the engine cannot follow."""
    schema = tools.constraint() if tools else None
    fmt = structured_format(response_format)
    param = "tools"
    if schema is not None and fmt is not None:
        raise InvalidRequest(
            "response_format cannot be combined with tool_choice 'required' or a named "
            "tool: the answer is then a tool call.",
            param="response_format",
        )
    if schema is None:
        if fmt is None:
            return None
        param = "response_format"
        if fmt["type"] == "json_schema":
            schema = fmt["json_schema"]["schema"]
            check_schema(schema, "response_format.json_schema.schema")
    guided = Guided(None if schema is None else json.dumps(schema))
    try:
        engine.check_guided(guided)
    except ValueError as exc:
        raise InvalidRequest(
            f"This endpoint cannot constrain decoding to the schema in {param}: {exc}",
            param=param,
        ) from None
    return guided


def structured_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """None for free text; the shape was checked by protocol."""
    if not response_format or response_format.get("type", "text") == "text":
        return None
    return response_format
