"""The benchmark stays a development tool: out of the shipped wheel, never imported by src/."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import sagemaker_openai
from sagemaker_openai.sagemaker.wheel import build_wheel

SRC = Path(sagemaker_openai.__file__).parent


def test_model_tarball_wheel_holds_no_benchmark_code(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)  # what `package` puts in every hf-dlc and lmi tarball
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "sagemaker_openai/cli/__init__.py" in names  # the wheel holds the package at all
    modules = {Path(n).with_suffix("").as_posix().replace("/", ".") for n in names}
    bench = [m for m in modules if m.startswith("bench") or ".bench" in m]
    assert bench == []


def test_nothing_in_src_imports_bench() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.ImportFrom):  # relative: `from .bench import x`
                names = [f"{'.' * node.level}{node.module or ''}"]
            else:
                continue
            offenders += [f"{path}: {n}" for n in names if n.split(".")[-1] == "bench" or
                          n.startswith("bench")]  # fmt: skip
    assert offenders == []
