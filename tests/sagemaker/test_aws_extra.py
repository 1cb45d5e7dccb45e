"""boto3 is the [aws] extra, not a run-time dependency: the lmi tarball installs this package
into DJL's image, whose awscli pins botocore (djl-serving v0.36.0
serving/docker/scripts/install_python.sh: `pip install -U "numpy<2" awscli`); a boto3
requirement would upgrade botocore under it. The commands that call AWS say so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_boto3_is_an_extra_and_make_install_installs_it() -> None:
    project = _project()
    names = [d.split(">")[0].split("=")[0].strip().lower() for d in project["dependencies"]]
    assert not {"boto3", "botocore"} & set(names)  # what the tarballs' wheelhouse downloads
    assert any(d.startswith("boto3") for d in project["optional-dependencies"]["aws"])
    assert "'.[transformers,dev,aws]'" in (ROOT / "Makefile").read_text()


def test_an_aws_command_without_boto3_is_one_line() -> None:
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from sagemaker_openai.cli import main\n"
        "sys.exit(main(['status', '--region', 'us-east-1']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: this command calls AWS and needs boto3: pip install 'sagemaker-openai[aws]'"
    ]
