"""`sagemaker-openai chat` driven through a pseudo-terminal, as a person types at it.

The real command, the real demo server behind the emulator: Ctrl-C mid-answer stops the answer
and keeps the conversation; arrow keys edit the line and recall history; an empty line does not
quit; /reset, /system and /history; /exit quits.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Iterator

import pexpect
import pytest
from local_sagemaker import emulator_for

COUNT = "Count from 1 to 300, separated by commas."
LEFT, UP = "\x1b[D", "\x1b[A"
PROMPT = "> "


@pytest.fixture
def console(demo_server) -> Iterator[pexpect.spawn]:
    with emulator_for(demo_server.url) as url:
        args = ["-m", "sagemaker_openai.cli", "chat", "--endpoint-name", "demo"]
        args += ["--endpoint-url", url, "--max-tokens", "200", "--temperature", "0"]
        child = pexpect.spawn(
            sys.executable,
            args,
            env={**os.environ, "TERM": "xterm", "INPUTRC": "/dev/null"},
            encoding="utf-8",
            timeout=120,
            dimensions=(40, 200),
            # Ctrl-C must reach it as in a person's shell: a runner started in the background of
            # a non-interactive shell passes SIGINT on ignored (POSIX, asynchronous lists), and
            # Python then leaves it ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        child.expect("chatting with demo")
        child.expect_exact(PROMPT)
        try:
            yield child
        finally:
            child.close(force=True)


def history(child: pexpect.spawn) -> str:
    child.sendline("/history")
    child.expect_exact(PROMPT)
    return str(child.before)


def test_ctrl_c_stops_the_answer_and_keeps_the_conversation(console: pexpect.spawn) -> None:
    console.sendline(COUNT)
    console.expect_exact(COUNT + "\r\n")  # the terminal's echo of the line
    console.expect(r"\d")  # the answer is streaming (counting: its first digit is out)
    console.sendintr()
    console.expect(r"\[stopped; (\d+) tokens")
    shown = int(console.match.group(1))
    assert 0 < shown < 200  # stopped before max_tokens
    console.expect_exact(PROMPT)
    kept = history(console)
    assert f"user: {COUNT}" in kept
    partial = re.search(r"assistant: \S", kept)  # the part of the answer shown is kept
    assert partial, kept
    assert console.isalive()

    console.sendline("")  # an empty line does not quit
    console.expect_exact(PROMPT)
    console.sendline("Thanks!")
    console.expect(r"\[\d+ tokens, [\d.]+ tokens/s, first token [\d.]+ s\]")  # a full answer
    console.expect_exact(PROMPT)
    roles = re.findall(r"^(user|assistant): ", history(console), re.MULTILINE)
    assert roles == ["user", "assistant", "user", "assistant"]


def test_line_editing_history_and_commands(console: pexpect.spawn) -> None:
    console.send("/system Be terse.\r")
    console.expect("system message set")
    console.expect_exact(PROMPT)
    console.send("/hisory" + LEFT * 3 + "t\r")  # fixed with the arrow key: /history
    console.expect_exact("system: Be terse.")
    console.expect_exact(PROMPT)
    console.send(UP + "\r")  # the previous line again
    console.expect_exact("system: Be terse.")
    console.expect_exact(PROMPT)

    console.sendintr()  # Ctrl-C at the prompt drops the line and keeps the chat
    console.expect_exact("(/exit or Ctrl-D quits)")
    console.expect_exact(PROMPT)
    console.sendline("/reset")
    console.expect("conversation forgotten")
    console.expect_exact(PROMPT)
    console.sendline("/nope")
    console.expect("unknown command /nope")
    console.expect_exact(PROMPT)
    console.sendline("/exit")
    console.expect(pexpect.EOF)
    console.close()
    assert console.exitstatus == 0


def test_ctrl_d_quits(console: pexpect.spawn) -> None:
    console.sendeof()
    console.expect(pexpect.EOF)
    console.close()
    assert console.exitstatus == 0
