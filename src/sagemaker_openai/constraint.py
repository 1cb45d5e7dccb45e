"""What decoding must follow: a response_format schema, or the tool-call schema of tool_choice
"required" or a named tool; checked by the engine before any byte of a stream is sent."""

from __future__ import annotations

import json

from .engines.base import Engine, Guided
from .errors import InvalidRequest
from .protocol import ResponseFormat
from .toolcalls import ToolChoice


def decoding_constraint(
    engine: Engine, response_format: ResponseFormat | None, tools: ToolChoice | None
) -> Guided | None:
    """The Guided constraint of a request, or None for free text; a 400 naming the parameter
    whose schema the engine cannot follow (protocol checked that it is a JSON schema)."""
    schema = tools.constraint() if tools else None
    param = "tools"
    if schema is None:
        if response_format is None or response_format.type == "text":
            return None
        param = "response_format"
        schema = response_format.answer_schema  # None for json_object: any JSON object
    guided = Guided(None if schema is None else json.dumps(schema))
    try:
        engine.check_guided(guided)
    except ValueError as exc:
        raise InvalidRequest(
            f"This endpoint cannot constrain decoding to the schema in {param}: {exc}",
            param=param,
        ) from None
    return guided
