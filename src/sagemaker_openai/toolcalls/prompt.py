"""Tools and tool messages into a chat template's inputs.

A template that renders `tools` itself gets them the Hugging Face way (as vLLM and `transformers
serve` pass them). A template without tool support (the demo model's) gets the fallback: the
tools described in a system message that asks for Hermes-style calls, earlier calls written back
in that format, and tool results as <tool_response> blocks in a user turn. docs/tools.md shows it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

FALLBACK_INSTRUCTIONS = (
    "You can call the following tools. Each tool is described by a JSON schema:\n"
    "<tools>\n{tools}\n</tools>\n"
    "To call a tool, answer with one line per call and nothing else:\n"
    '<tool_call>{{"name": "<tool name>", "arguments": <arguments as a JSON object>}}</tool_call>\n'
    "Tool results come back inside <tool_response></tool_response>."
)


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a tool-aware template: call arguments as objects, as templates expect."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            message = {**message, "tool_calls": [_decoded(c) for c in message["tool_calls"]]}
        out.append(message)
    return out


_PLAIN_KEYS = ("role", "content", "reasoning", "reasoning_content")  # thinking stays for templates


def fallback_messages(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Messages for a template without tool support: everything said in plain turns."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "assistant" and message.get("tool_calls"):
            calls = [_fallback_call(c) for c in message["tool_calls"]]
            text = "\n".join(filter(None, [message.get("content") or "", *calls]))
            out.append({"role": "assistant", "content": text})
        elif role == "tool":
            block = f"<tool_response>\n{message.get('content') or ''}\n</tool_response>"
            if out and out[-1].get("_tool_results"):  # parallel results share one user turn
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_tool_results": True})
        else:
            out.append({k: v for k, v in message.items() if k in _PLAIN_KEYS})
    for message in out:
        message.pop("_tool_results", None)
    if tools:
        described = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        instructions = FALLBACK_INSTRUCTIONS.format(tools=described)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{instructions}"}
        else:
            out.insert(0, {"role": "system", "content": instructions})
    return out


def _fallback_call(call: dict[str, Any]) -> str:
    function = _decoded(call)["function"]
    body = {"name": function.get("name"), "arguments": function.get("arguments")}
    return f"<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def _decoded(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # undecodable arguments stay as the client sent them; the template shows them as text
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments)
    return {**call, "function": {**function, "arguments": arguments}}
