"""hf-dlc with a model under an S3 prefix: the handler's tarball alone is the model data
(/opt/ml/model/code, where sagemaker-huggingface-inference-toolkit 2.6.0 reads inference.py),
and the weights are an AdditionalModelDataSource, mounted at
/opt/ml/additional-model-data-sources/model and named by SMOAI_MODEL. Driven through the real
toolkit handler in MMS's worker-side Service, as tests/sagemaker/test_hf_dlc.py does."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from sagemaker_openai.sagemaker.package import package_contents, write_tarball

pytest.importorskip("sagemaker_huggingface_inference_toolkit")
pytest.importorskip("mms")


def test_the_handler_alone_serves_weights_mounted_beside_it(
    light_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_hf_dlc import _invoke, _toolkit_service

    contents = package_contents(None, "hf-dlc", "demo-served", tmp_path / "work")
    names = [m.arcname for m in contents.members]
    assert all(n.startswith("code/") for n in names) and "code/inference.py" in names
    opt_ml_model = tmp_path / "opt-ml-model"  # what SageMaker unpacks: code/ and no weights
    with tarfile.open(write_tarball(contents, tmp_path / "model.tar.gz")) as tar:
        tar.extractall(opt_ml_model, filter="data")
    monkeypatch.setenv("SMOAI_MODEL", str(light_model_dir))  # the mounted prefix's stand-in
    service = _toolkit_service(opt_ml_model)
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
    status, content_type, reply = _invoke(service, json.dumps(body).encode())
    assert status == 200 and content_type == "application/json"
    assert json.loads(reply)["choices"][0]["message"]["content"]
