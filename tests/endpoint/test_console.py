"""`invoke` and `chat` in the terminal, through boto3 and the emulator."""

from __future__ import annotations

import io
import json

from sagemaker_openai.endpoint.client import EndpointClient
from sagemaker_openai.endpoint.console import chat, invoke

ASK = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6, "temperature": 0}


def test_invoke_prints_the_answer_or_raw_json(emulators) -> None:
    client = EndpointClient("demo", endpoint_url=emulators["none"])
    out = io.StringIO()
    assert invoke(client, ASK, stream=False, raw=True, out=out) == 0
    answer = json.loads(out.getvalue())["choices"][0]["message"]["content"]
    streamed = io.StringIO()
    assert invoke(client, ASK, stream=True, raw=False, out=streamed) == 0
    assert streamed.getvalue() == answer + "\n"
    failed = io.StringIO()
    assert invoke(client, {**ASK, "top_p": 0}, stream=False, raw=False, out=failed) == 1
    assert "param top_p" in failed.getvalue()


def test_chat_keeps_history_and_reports_speed(emulators) -> None:
    client = EndpointClient("demo", endpoint_url=emulators["none"])
    sent: list[dict] = []
    original = client.stream

    def recording(request):
        sent.append(request)
        return original(request)

    client.stream = recording  # type: ignore[method-assign]
    lines = iter(["Hello!", "", "And again?"])  # an empty line is skipped, not the end

    def read(prompt: str) -> str:
        line = next(lines, None)
        if line is None:
            raise EOFError  # Ctrl-D
        return line

    out = io.StringIO()
    assert chat(client, {"max_tokens": 4}, system="Be brief.", read=read, out=out) == 0
    assert len(sent) == 2
    roles = [m["role"] for m in sent[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert sent[1]["messages"][2]["content"]  # the first answer is in the history
    assert out.getvalue().count("tokens/s") == 2
