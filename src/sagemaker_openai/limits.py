"""What a request body may hold before any work is done on it: JSON that is standard, nested no
deeper than MAX_DEPTH, with text that is valid Unicode. Every breach is a 400, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InvalidRequest

MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's request payload limit: 6 MiB
# Deep enough for any real tool or JSON schema; shallow enough that templates, tojson and
# pydantic never recurse near Python's limit (1000 frames).
MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# A \uD800-\uDFFF escape: the only way a lone surrogate gets into a decoded body.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_json(body: bytes) -> Any:
    """The JSON value of a body, or an InvalidRequest (param None: the body as a whole)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise _too_deep("the request body") from None
    except _NotANumber as exc:  # NaN, Infinity, -Infinity
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.name} is not a JSON number."
        ) from None
    except ValueError:  # int(): an integer of more than sys.get_int_max_str_digits() digits
        raise InvalidRequest(
            "The request body is not valid JSON: an integer has too many digits."
        ) from None
    _check_tree(data, check_text=_SURROGATE_ESCAPE.search(body) is not None)
    return data


class _NotANumber(ValueError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(name)


def _check_tree(data: Any, check_text: bool) -> None:
    """Depth and (when the body has surrogate escapes) text, iteratively: no recursion.

    A path is kept as a linked trail (key, parent) and spelled out only for an error."""
    stack: list[tuple[Any, int, Any]] = [(data, 0, None)]
    while stack:
        value, depth, trail = stack.pop()
        if depth > MAX_DEPTH:
            path = _spell(trail)
            raise _too_deep(path or "the request body", param=_top(path))
        if isinstance(value, dict):
            for key, item in value.items():
                if check_text:
                    _check_text(key, (key, trail))
                stack.append((item, depth + 1, (key, trail)))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, (i, trail)) for i, item in enumerate(value))
        elif check_text and isinstance(value, str):
            _check_text(value, trail)


def _check_text(text: str, trail: Any) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        path = _spell(trail)
        raise InvalidRequest(
            f"Invalid value for '{_short(path)}': the text holds a lone UTF-16 surrogate "
            "(an unpaired \\ud800-\\udfff escape), which is not valid Unicode.",
            param=_short(path) or None,
        ) from None


def _spell(trail: Any) -> str:
    """messages[0].content from the trail ("content", (0, ("messages", None)))."""
    parts: list[str | int] = []
    while trail is not None:
        parts.append(trail[0])
        trail = trail[1]
    path = ""
    for part in reversed(parts):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _too_deep(where: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(
        f"'{_short(where)}' is nested more than {MAX_DEPTH} levels deep; "
        f"at most {MAX_DEPTH} levels of arrays and objects are accepted.",
        param=param,
    )


def _top(path: str) -> str | None:
    """The top-level parameter of a path: the part the client can find in its request."""
    return _short(re.split(r"[.\[]", path, maxsplit=1)[0]) or None


def _short(text: str, limit: int = 80) -> str:
    """Client text placed in a message: escaped (no control characters), bounded."""
    text = text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
