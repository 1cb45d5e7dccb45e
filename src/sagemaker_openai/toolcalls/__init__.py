"""Tool calling: the calls' formats, a streaming parser, tool_choice, and the prompt side."""

from .choice import ToolChoice, read_tool_choice
from .formats import (
    FORMATS,
    Format,
    ToolCall,
    detect_format,
    get_format,
    template_supports_tools,
)
from .prompt import fallback_messages, template_messages
from .stream import Event, ToolCallStream, parse_calls

__all__ = [
    "FORMATS",
    "Event",
    "Format",
    "ToolCall",
    "ToolCallStream",
    "ToolChoice",
    "detect_format",
    "fallback_messages",
    "get_format",
    "parse_calls",
    "read_tool_choice",
    "template_messages",
    "template_supports_tools",
]
