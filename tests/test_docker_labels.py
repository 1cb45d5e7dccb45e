"""Our images tell SageMaker they honour SAGEMAKER_BIND_TO_PORT (serve's --port reads it):
without the label SageMaker never sets it, and an inference component or a multi-container
endpoint that needs another port cannot use the image (SageMaker developer guide, "How
containers serve requests": com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_openai.settings import ENV

DOCKER = Path(__file__).resolve().parents[1] / "docker"


@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_images_accept_bind_to_port(dockerfile: str) -> None:
    lines = (DOCKER / dockerfile).read_text().splitlines()
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in lines
    assert ENV["port"] == "SAGEMAKER_BIND_TO_PORT"
