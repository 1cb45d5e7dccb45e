"""A stand-in for another vendor's OpenAI-style server, answering in-process with canned text
and calls: right by default, wrong in one named way when asked. It is not this project's
server (that one is checked for real, by URL); it stands for a faulty endpoint, so that each
rule can be shown to fail against exactly the fault it names."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from sagemaker_openai.endpoint.check.tools import RICH_PARAMETERS
from sagemaker_openai.endpoint.exchange import Exchange

ARGUMENTS = {  # schema-valid arguments of the tools the check offers
    "get_weather": {"city": "Paris"},
    "forecast": {
        "city": "Oslo",
        "unit": "celsius",
        "days": 3,
        "where": {"lat": 60, "lon": 11},
        "fields": ["wind"],
    },
}
FAULTS = {
    "created_per_chunk": "each chunk stamped with its own time",
    "cached_over_prompt": "usage.prompt_tokens_details.cached_tokens above prompt_tokens",
    "total_not_sum": "total_tokens is not prompt_tokens + completion_tokens",
    "n_ignored": "one choice whatever n asks",
    "seed_ignored": "every answer sampled anew, seed or not",
    "heads_repeated": "every tool-call delta repeats id, type and name",
    "parallel_ignored": "two calls even with parallel_tool_calls false",
    "indices_skip": "streamed calls numbered 0, 2, ...",
    "union_refused": "a 400 for union types in a tool schema",
    "schema_ignored": "forced arguments that do not follow the schema",
    "null_tool_choice_refused": "tool_choice null is a 400",
    "no_retrieve": "no GET /v1/models/{id} route",
    "models_unlisted": "GET /v1/models lists nothing",
}


class StandIn:
    """A Target (endpoint/exchange.py) that answers each request itself."""

    framing = "jsonl"

    def __init__(self, fault: str | None = None):
        assert fault is None or fault in FAULTS
        self.fault = fault
        self.description = f"a stand-in server ({FAULTS[fault] if fault else 'no fault'})"
        self._draws = itertools.count()

    def get(self, path: str) -> Exchange:
        card = {"id": "stand-in/model", "object": "model", "created": 0, "owned_by": "x"}
        if path == "/v1/models":
            listing = {"object": "list", "data": [] if self.fault == "models_unlisted" else [card]}
            return _json(200, listing)
        if path == "/v1/models/stand-in/model" and self.fault != "no_retrieve":
            return _json(200, card)
        error = {"message": "no such model", "type": "invalid_request_error"}
        return _json(404, {"error": {**error, "param": "model", "code": "model_not_found"}})

    def send(self, body: bytes, stream: bool) -> Exchange:
        request = json.loads(body)
        refusal = self._refusal(request)
        if refusal:
            error = {"message": "refused", "type": "invalid_request_error", "code": None}
            return _json(400, {"error": {**error, "param": refusal}})
        n = 1 if self.fault == "n_ignored" else int(request.get("n") or 1)
        answers = [self._answer(request, index) for index in range(n)]
        if stream:
            return self._stream(request, answers)
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
            for i, (message, finish) in enumerate(answers)
        ]
        return _json(200, {**self._head("chat.completion"), "choices": choices, **self._usage()})

    def _refusal(self, request: dict[str, Any]) -> str | None:
        if self.fault == "null_tool_choice_refused" and "tool_choice" in request:
            return "tool_choice" if request["tool_choice"] is None else None
        tools = json.dumps(request.get("tools") or [])
        if self.fault == "union_refused" and '"type": ["' in tools:
            return "tools"
        return None

    def _answer(self, request: dict[str, Any], index: int) -> tuple[dict[str, Any], str]:
        choice = request.get("tool_choice")
        if request.get("tools") and choice not in (None, "auto", "none"):
            names = [t["function"]["name"] for t in request["tools"]]
            name = choice["function"]["name"] if isinstance(choice, dict) else names[0]
            count = 1 if isinstance(choice, dict) else 2
            if request.get("parallel_tool_calls") is False and self.fault != "parallel_ignored":
                count = 1
            arguments = {} if self.fault == "schema_ignored" else ARGUMENTS[name]
            calls = [
                {
                    "id": f"call_{index}_{k}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for k in range(count)
            ]
            return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        seed = request.get("seed")
        if seed is None or self.fault == "seed_ignored":
            seed = next(self._draws)
        return {"role": "assistant", "content": f"The sea, take {seed + index}."}, "stop"

    def _stream(self, request: dict[str, Any], answers: list[Any]) -> Exchange:
        usage = (request.get("stream_options") or {}).get("include_usage")
        chunks = []
        for index, (message, finish) in enumerate(answers):
            deltas = [{"role": "assistant", "content": ""}]
            for k, call in enumerate(message.get("tool_calls") or []):
                number = 2 * k if self.fault == "indices_skip" else k
                head = {"index": number, "id": call["id"], "type": "function"}
                name = call["function"]["name"]
                first = {**head, "function": {"name": name, "arguments": ""}}
                deltas.append({"tool_calls": [first]})
                rest = {"index": number, "function": {"arguments": call["function"]["arguments"]}}
                if self.fault == "heads_repeated":
                    rest = {**head, "function": {**rest["function"], "name": name}}
                deltas.append({"tool_calls": [rest]})
            if message.get("content"):
                deltas.append({"content": message["content"]})
            deltas.append({"content": ""})
            for k, delta in enumerate(deltas):
                last = k == len(deltas) - 1
                choice = {"index": index, "delta": delta, "logprobs": None}
                chunks.append({**choice, "finish_reason": finish if last else None})
        head = self._head("chat.completion.chunk")
        objects = []
        for number, choice in enumerate(chunks):
            late = number if self.fault == "created_per_chunk" else 0
            objects.append({**head, "created": head["created"] + late, "choices": [choice]})
        if usage:
            objects.append({**head, **self._usage(), "choices": []})
        parts = tuple(json.dumps(o).encode() + b"\n" for o in objects)
        return Exchange(200, "application/jsonlines", parts)

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-standin",
            "object": kind,
            "created": int(time.time()),
            "model": "stand-in/model",
            "system_fingerprint": None,
        }

    def _usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        if self.fault == "total_not_sum":
            usage["total_tokens"] = 18
        cached = 20 if self.fault == "cached_over_prompt" else 8
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return {"usage": usage}


def _json(status: int, body: Any) -> Exchange:
    return Exchange(status, "application/json", (json.dumps(body).encode(),))


assert RICH_PARAMETERS["required"] == list(ARGUMENTS["forecast"])  # the stand-in keeps up
