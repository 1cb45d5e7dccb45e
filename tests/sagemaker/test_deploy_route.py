"""deploy ends by printing the endpoint's OpenAI base_url (SageMaker's OpenAI route)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_openai.cli import main

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def test_dry_run_prints_the_openai_base_url(
    light_model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self, operation, params):
        raise AssertionError(f"{operation} was called")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", refuse)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    argv = ["deploy", "--model", str(light_model_dir), "--endpoint-name", "chat-ep"]
    argv += ["--instance-type", "ml.g5.xlarge", "--role", ROLE, "--region", "eu-west-1"]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == (
        "OpenAI base_url: https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/chat-ep/openai/v1"
    )
    assert "sagemaker-openai token --endpoint-name chat-ep" in out[-1]
