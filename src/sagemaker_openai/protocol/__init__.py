"""The OpenAI Chat Completions protocol: the request typed and checked at the edge (request.py,
its parts in parts.py) and the response objects (response.py). Names follow OpenAI's API."""

from ..limits import MAX_BODY_BYTES
from .parts import (
    ChatCompletionMessage,
    ContentPart,
    FunctionDefinition,
    NamedToolChoice,
    ResponseFormat,
    Tool,
    ToolCallParam,
    check_schema,
)
from .request import ChatCompletionRequest, describe_keys, parse_request
from .response import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionChunkChoice,
    PromptTokensDetails,
    Usage,
)

__all__ = [
    "MAX_BODY_BYTES",
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionChunkChoice",
    "ChatCompletionMessage",
    "ChatCompletionRequest",
    "ContentPart",
    "FunctionDefinition",
    "NamedToolChoice",
    "PromptTokensDetails",
    "ResponseFormat",
    "Tool",
    "ToolCallParam",
    "Usage",
    "check_schema",
    "describe_keys",
    "parse_request",
]
