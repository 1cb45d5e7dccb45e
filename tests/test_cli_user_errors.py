"""A user mistake on the command line: one line on stderr naming the fix, status 1, no traceback.

Each case runs the real `sagemaker-openai` command in a child process with an AWS environment
that has nothing configured (no region, no credentials, no profile files, no instance metadata).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from live import free_port

NO_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
)


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "sagemaker_openai.cli", *args],
        env={**clean, **NO_AWS, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *fix: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for words in fix:
        assert words in lines[0], lines[0]
    return lines[0]


UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.parametrize(
    "args",
    [
        ("invoke", "--endpoint-name", "demo", "hi"),
        ("chat", "--endpoint-name", "demo"),
        ("check", "--endpoint-name", "demo"),
    ],
    ids=["invoke", "chat", "check"],
)
def test_no_region(args: tuple[str, ...]) -> None:
    assert_one_line(run_cli(*args), "--region", "AWS_DEFAULT_REGION")


@pytest.mark.parametrize("command", ["invoke", "chat", "check"])
def test_no_credentials(command: str) -> None:
    args = [command, "--endpoint-name", "demo", "--region", "us-east-1"]
    args += ["hi"] if command == "invoke" else []
    assert_one_line(run_cli(*args), "aws configure", "AWS_PROFILE")


@pytest.mark.parametrize("command", ["invoke", "chat", "check"])
def test_unreachable_endpoint_url(command: str) -> None:
    args = [command, "--endpoint-name", "demo", "--endpoint-url", UNREACHABLE]
    args += ["hi"] if command == "invoke" else []
    assert_one_line(run_cli(*args), UNREACHABLE, "--endpoint-url")


def test_unreachable_container_url() -> None:
    assert_one_line(run_cli("check", "--url", UNREACHABLE), UNREACHABLE, "--url")


def test_serve_on_a_port_in_use(busy_port: int) -> None:
    result = run_cli("serve", "--model", "demo", "--host", "127.0.0.1", "--port", str(busy_port))
    assert_one_line(result, f"127.0.0.1:{busy_port}", "--port")


def test_serve_with_an_emulator_port_in_use(busy_port: int) -> None:
    port = str(free_port())
    args = ["serve", "--model", "demo", "--host", "127.0.0.1", "--port", port]
    result = run_cli(*args, "--emulator-port", str(busy_port))
    assert_one_line(result, f"127.0.0.1:{busy_port}", "--emulator-port")
    assert "endpoints demo at" not in result.stdout + result.stderr  # no URL to misroute to


def test_emulate_on_a_port_in_use(busy_port: int) -> None:
    assert_one_line(run_cli("emulate", "--port", str(busy_port)), "--port")


def test_adapter_component_without_a_folder() -> None:
    result = run_cli("emulate", "--port", str(free_port()), "--adapter-component", "my-lora")
    assert_one_line(result, "--adapter-component takes NAME=FOLDER", "'my-lora'")


def test_unknown_engine() -> None:
    result = run_cli("serve", "--model", "demo", "--engine", "vlm")
    assert_one_line(result, "'vlm'", "transformers, vllm or auto")


def test_endpoint_named_nowhere() -> None:
    assert_one_line(run_cli("invoke", "--endpoint-url", UNREACHABLE, "hi"), "--endpoint-name")


def test_old_flag_spellings_still_work_but_are_not_listed() -> None:
    result = run_cli("invoke", "--endpoint", "demo", "--endpoint-url", UNREACHABLE, "hi")
    assert_one_line(result, UNREACHABLE)  # reached the client: the old spelling named it
    for command in ("invoke", "chat", "check", "status"):
        shown = run_cli(command, "--help").stdout
        assert "--endpoint-name" in shown and "--endpoint " not in shown.replace("\n", " ")


def test_region_help_names_what_boto3_reads() -> None:
    for command in ("invoke", "chat", "check", "deploy", "delete", "status"):
        shown = " ".join(run_cli(command, "--help").stdout.split())
        assert "AWS_DEFAULT_REGION" in shown and "not AWS_REGION" in shown, command


def test_package_and_deploy_share_one_default_target() -> None:
    package = " ".join(run_cli("package", "--help").stdout.split())
    deploy = " ".join(run_cli("deploy", "--help").stdout.split())
    assert "DJL LMI [lmi]" in package and "packaging target [lmi]" in deploy
