"""The AWS SDK for JavaScript v3, unmodified, against the emulator in front of the demo server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from local_sagemaker import emulator_for

JS = Path(__file__).parent.parent / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def test_js_sdk_invokes_streams_and_names_errors(demo_server) -> None:
    if not (JS / "node_modules" / "@aws-sdk" / "client-sagemaker-runtime").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    with emulator_for(demo_server.url) as url:
        env = {**os.environ, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url}
        done = subprocess.run(
            ["node", "invoke.mjs", "demo"], cwd=JS, env=env, capture_output=True, timeout=300
        )
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["completion"]["object"] == "chat.completion"
    assert report["contentType"] == "application/jsonlines"
    chunks = report["chunks"]  # each parsed alone with JSON.parse, as the provider does
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert len({c["id"] for c in chunks}) == 1
    assert report["errors"]["unknown"]["name"] == "ValidationError"
    assert report["errors"]["unknown"]["status"] == 400
    model = report["errors"]["model"]
    assert (model["name"], model["status"], model["OriginalStatusCode"]) == ("ModelError", 424, 400)
    assert json.loads(model["OriginalMessage"])["error"]["param"] == "temperature"
