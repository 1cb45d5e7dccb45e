"""xgrammar-constrained decoding on the demo model's real tokenizer and weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sagemaker_openai.engines.base import Guided
from sagemaker_openai.engines.guided import GuidedDecoding, InvalidGuide
from sagemaker_openai.protocol import NamedToolChoice, Tool
from sagemaker_openai.template import render_chat
from sagemaker_openai.toolcalls import read_tool_choice

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city", "unit"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


@pytest.fixture(scope="module")
def demo(demo_model_dir: Path) -> tuple[Any, Any, GuidedDecoding]:
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir).eval()
    guide = GuidedDecoding(tokenizer, model.config.vocab_size, [tokenizer.eos_token_id])
    return tokenizer, model, guide


def generate(
    demo: tuple[Any, Any, GuidedDecoding], question: str, guided: Guided, finish: bool = True
) -> str:
    """Greedy decoding through the processor, as an engine drives it."""
    tokenizer, model, guide = demo
    prompt = render_chat(tokenizer.chat_template, [{"role": "user", "content": question}], {})
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    processor = guide.processor(guided)
    out: list[int] = []
    cache, step = None, ids
    with torch.inference_mode():
        for _ in range(80):
            result = model(input_ids=torch.tensor([step]), past_key_values=cache, use_cache=True)
            cache, logits = result.past_key_values, result.logits[0, -1].float()
            processor.mask(logits)
            token = int(torch.argmax(logits))
            processor.accept(token)
            if token == tokenizer.eos_token_id:
                break
            out.append(token)
            step = [token]
    assert processor.done() or not finish, (
        f"the grammar should have ended within the budget: {tokenizer.decode(out)!r}"
    )
    return tokenizer.decode(out)


def test_json_object_is_any_json_object(demo) -> None:
    # The demo model writes a long object; every token of it passed the grammar (accept()).
    text = generate(demo, "Give a cat's name as a JSON object.", Guided(None), finish=False)
    assert text.startswith('{"')


def test_named_tool_arguments_match_its_schema(demo) -> None:
    named = NamedToolChoice.model_validate(
        {"type": "function", "function": {"name": "get_weather"}}
    )
    choice = read_tool_choice([Tool.model_validate(WEATHER)], named, None)
    schema = choice.constraint()
    text = generate(demo, "What is the weather in Paris?", Guided(json.dumps(schema)))
    jsonschema.validate(json.loads(text), WEATHER["function"]["parameters"])
    [call] = choice.constrained_format().parse(text)
    assert call.name == "get_weather" and json.loads(call.arguments) == json.loads(text)


def test_required_gives_valid_calls_of_the_offered_tools(demo) -> None:
    tools = [Tool.model_validate(WEATHER), Tool.model_validate(TIME)]
    choice = read_tool_choice(tools, "required", False)
    text = generate(demo, "What time is it?", Guided(json.dumps(choice.constraint())))
    calls = choice.constrained_format().parse(text)
    assert calls and len(calls) == 1  # parallel_tool_calls false: one call
    schemas = {"get_weather": WEATHER["function"]["parameters"], "get_time": {"type": "object"}}
    for call in calls:
        jsonschema.validate(json.loads(call.arguments), schemas[call.name])


@pytest.mark.parametrize(
    "schema",
    [
        '{"type": "nonsense"}',
        '{"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}',
        '{"type": "string", "pattern": "["}',
    ],
)
def test_a_schema_xgrammar_refuses_is_invalid_guide(demo, schema: str) -> None:
    with pytest.raises(InvalidGuide) as info:
        demo[2].compile(Guided(schema))
    assert "json_schema_converter.cc" not in str(info.value)
