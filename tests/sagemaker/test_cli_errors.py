"""Bad input: one line on stderr, exit 1, and nothing called or created."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_openai.cli import main

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []

    def record(self, operation, params):
        calls.append(operation)
        raise AssertionError(f"{operation} was called")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", record)
    return calls


def _deploy(*extra: str, model: str = "demo", name: str = "chat-ep") -> list[str]:
    return [
        "deploy",
        "--model",
        model,
        "--endpoint-name",
        name,
        "--instance-type",
        "ml.g5.xlarge",
        "--region",
        "us-east-1",
        *extra,
    ]


def _one_line_error(capsys: pytest.CaptureFixture, *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    for word in words:
        assert word in err


def test_missing_role(capsys, no_aws_calls) -> None:
    assert main(_deploy()) == 1
    _one_line_error(capsys, "--role")
    assert no_aws_calls == []


def test_invalid_endpoint_name(capsys, no_aws_calls) -> None:
    assert main(_deploy("--role", ROLE, name="bad_name!")) == 1
    _one_line_error(capsys, "--endpoint-name")
    assert no_aws_calls == []


@pytest.mark.parametrize("missing", ["model.safetensors", "tokenizer.json"])
def test_model_folder_without_weights_or_tokenizer(
    capsys, no_aws_calls, demo_dir: Path, tmp_path: Path, missing: str
) -> None:
    for f in demo_dir.iterdir():
        if f.is_file() and f.name != missing:
            (tmp_path / f.name).symlink_to(f)
    assert main(_deploy("--role", ROLE, model=str(tmp_path))) == 1
    _one_line_error(capsys, "--model", "weights" if "safetensors" in missing else "tokenizer")
    assert main(["package", "--model", str(tmp_path), "-o", str(tmp_path / "m.tar.gz")]) == 1
    assert not (tmp_path / "m.tar.gz").exists()
    assert no_aws_calls == []


def test_region_without_image(capsys, no_aws_calls) -> None:
    args = _deploy("--role", ROLE, "--target", "hf-dlc")
    args[args.index("us-east-1")] = "xx-nowhere-1"
    assert main(args) == 1
    _one_line_error(capsys, "--region", "xx-nowhere-1")
    assert no_aws_calls == []


def test_image_target_needs_image_uri(capsys, no_aws_calls) -> None:
    assert main(_deploy("--role", ROLE, "--target", "image")) == 1
    _one_line_error(capsys, "--image-uri")


def test_no_credentials(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    assert main(_deploy("--role", ROLE)) == 1
    _one_line_error(capsys, "no AWS credentials")


def test_botocore_error_outside_the_facade(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # boto3.Session raises ProfileNotFound
    assert main(["status", "--region", "us-east-1"]) == 1
    _one_line_error(capsys, "no-such-profile")


def test_instance_type_not_in_botocores_enum(capsys, no_aws_calls) -> None:
    args = _deploy("--role", ROLE, "--dry-run")
    args[args.index("ml.g5.xlarge")] = "ml.g5.xlarg"
    assert main(args) == 1
    _one_line_error(capsys, "--instance-type", "ml.g5.xlarg")
    assert no_aws_calls == []
