"""The packaged hosts honour the settings with the real engine (see tests/test_hosts_settings.py
for every setting): the lmi model.py through the DJL stand-in (djl_stub/, after djl-serving
v0.36.0), the hf-dlc inference.py through the real HF inference toolkit 2.6.0 handler."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import test_hosts_settings as hosts
from test_hf_dlc import _invoke, _toolkit_service

STUB = Path(__file__).parent / "djl_stub"
plain_prompt_tokens = hosts.plain_prompt_tokens  # the fixture


def test_lmi_model_py_honours_the_settings(
    plain_prompt_tokens: int, light_model_dir: Path, tmp_path: Path, unpack, monkeypatch
) -> None:
    model_dir = unpack(light_model_dir, "lmi", tmp_path)
    for var, value in {**hosts.SPECIAL, "SMOAI_ENGINE": "transformers"}.items():
        monkeypatch.setenv(var, value)
    spec = importlib.util.spec_from_file_location("model_hosts_settings", model_dir / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.insert(0, str(STUB))
    try:
        import djl_frontend

        frontend = djl_frontend.SyncFrontend(module, str(model_dir))

        def send(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            response = frontend.invoke(json.dumps(body).encode())
            return response.status, json.loads(response.body)

        assert hosts.check_settings_honoured(send) < plain_prompt_tokens
    finally:
        sys.path.remove(str(STUB))
        if module.handler.service is not None:
            module.handler.service.engine.close()


def test_hf_dlc_inference_py_honours_the_settings(
    plain_prompt_tokens: int, light_model_dir: Path, tmp_path: Path, unpack, monkeypatch
) -> None:
    pytest.importorskip("sagemaker_huggingface_inference_toolkit")
    model_dir = unpack(light_model_dir, "hf-dlc", tmp_path)
    for var, value in hosts.SPECIAL.items():
        monkeypatch.setenv(var, value)
    service = _toolkit_service(model_dir)

    def send(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, _, raw = _invoke(service, json.dumps(body).encode())
        return status, json.loads(raw)

    assert hosts.check_settings_honoured(send) < plain_prompt_tokens
