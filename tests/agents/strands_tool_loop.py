"""A Strands agent with one @tool against a SageMaker endpoint (run by test_tool_clients.py in
the side venv that holds strands-agents; prints what happened as one JSON line).

Strands always sends tool_choice "auto"; the endpoint's custom attribute tool_choice=required
makes the demo model (too small to choose a tool itself) call one on each user turn."""

import json
import sys

from strands import Agent, tool
from strands.models.sagemaker import SageMakerAIModel

calls: list[str] = []


@tool
def get_weather(city: str) -> str:
    """The current weather in a city.

    Args:
        city: The city's name.
    """
    calls.append(city)
    return f"Sunny, 21 C in {city}."


model = SageMakerAIModel(
    endpoint_config={
        "endpoint_name": sys.argv[1],
        "region_name": "us-east-1",
        "additional_args": {"CustomAttributes": "tool_choice=required"},
    },
    payload_config={
        "max_tokens": 40,
        "stream": sys.argv[2] == "stream",
        "additional_args": {"temperature": 0},
    },
)
agent = Agent(model=model, tools=[get_weather], callback_handler=None)
result = agent("What is the weather in Paris?")
roles = [m["role"] for m in agent.messages]
blocks = [sorted(block) for m in agent.messages for block in m["content"]]
print(
    json.dumps(
        {
            "calls": calls,
            "answer": str(result),
            "stop_reason": result.stop_reason,
            "roles": roles,
            "blocks": blocks,
        }
    )
)
