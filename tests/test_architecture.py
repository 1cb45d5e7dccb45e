"""The package's imports, read with ast, point one way (STYLE.md): builder, hosts, invocation
core, chat and streaming, then protocol, errors and the engine interface. Nothing outside the
cli package imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import sagemaker_openai

SRC = Path(sagemaker_openai.__file__).parent

# Higher imports lower, never the reverse; modules of one top-level package may import each
# other (the cycle check covers them). `bench` is leaving the package (issue 9).
RANKS = {
    "cli": 6,
    **dict.fromkeys(("serving", "emulator", "endpoint", "sagemaker", "bench"), 5),
    # serving's lower modules, which the hosts below the ASGI app answer through
    **dict.fromkeys(("serving.invocation", "serving.runtime"), 4),
    **dict.fromkeys(("serving.sessions", "serving.adapters"), 3),
    "hosts": 4.5,  # DJL's and the HF toolkit's handlers (the packaged templates import them)
    "service": 3.5,  # the one builder of the chat service from settings
    "planning": 2.5,  # chat's first walk: request checks and budgets into a Plan
    "responding": 2.75,  # chat's second walk: engine steps to OpenAI objects
    "chat": 3,
    **dict.fromkeys(
        ("settings", "model_folder", "engines", "answer", "prompt", "conversation", "constraint"),
        2,
    ),
    **dict.fromkeys(("streaming", "template", "demo", "toolcalls", "reasoning", "bearer"), 1),
    "protocol": 0.75,  # the request's types, which toolcalls reads; above limits and errors
    "admission": 1.5,  # the request budget: below chat and settings, above errors
    "limits": 0.5,  # body limits, below protocol, above errors
    **dict.fromkeys(("errors", "engines.base", ""), 0),  # "": the package's __init__
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Package modules `name` imports anywhere in its file (lazy imports count too)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if name else []
    package = here if is_package else here[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                base_name = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            else:
                base_name = node.module or ""
                if not base_name.startswith("sagemaker_openai"):
                    continue
                base_name = base_name.removeprefix("sagemaker_openai").lstrip(".")
            subs = [f"{base_name}.{a.name}".lstrip(".") for a in node.names]
            targets = [s for s in subs if s in MODULES] or [base_name]
            out.update(t for t in targets if t in MODULES)
            continue
        else:
            continue
        for target in targets:
            if target.startswith("sagemaker_openai"):
                stripped = target.removeprefix("sagemaker_openai").lstrip(".")
                if stripped in MODULES:
                    out.add(stripped)
    out.discard(name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _rank(name: str) -> int:
    if name in RANKS:
        return RANKS[name]
    top = name.split(".")[0]
    assert top in RANKS, f"{name} has no place in the layering; add it to RANKS"
    return RANKS[top]


def _group(name: str) -> str:
    return "engines.base" if name == "engines.base" else name.split(".")[0]


def test_the_graph_was_read() -> None:
    assert "chat" in GRAPH["serving.invocation"] and "serving.invocation" in GRAPH["serving.server"]
    assert "engines.base" in GRAPH["engines.vllm"]
    assert "cli.serve" in GRAPH["cli"] and "cli.usage" in GRAPH["cli.serve"]


def test_nothing_outside_cli_imports_cli() -> None:
    """cli's modules may import each other; no other module imports any of them."""
    wrong = [
        f"{name} -> {dep}"
        for name, deps in GRAPH.items()
        if _group(name) != "cli"
        for dep in deps
        if _group(dep) == "cli"
    ]
    assert wrong == []


def test_engines_import_only_engines() -> None:
    for name, deps in GRAPH.items():
        if name.startswith("engines"):
            assert all(d.startswith("engines") for d in deps), (name, deps)


def test_the_transformers_engine_has_a_seam() -> None:
    """Per-sequence semantics (sequence, sampling, lora) never reach into the cache and
    scheduling half (batch/); only engine.py, which assembles the two, imports both."""
    batch = "engines.transformers.batch"
    for name, deps in GRAPH.items():
        inside = name.startswith("engines.transformers.") and not name.startswith(batch)
        if inside and name != "engines.transformers.engine":
            assert not [d for d in deps if d.startswith(batch)], (name, deps)
    assert any(d.startswith(batch) for d in GRAPH["engines.transformers.engine"])


def test_imports_point_down() -> None:
    wrong = [
        f"{name} -> {dep}"
        for name, deps in GRAPH.items()
        for dep in deps
        if _group(name) != _group(dep) and _rank(dep) >= _rank(name)
    ]
    assert wrong == []


def test_no_cycles() -> None:
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in trail, " -> ".join([*trail, name])
        if name in done:
            return
        for dep in sorted(GRAPH[name]):
            visit(dep, [*trail, name])
        done.add(name)

    for name in GRAPH:
        visit(name, [])


def test_transformers_internals_are_imported_in_one_module() -> None:
    """Only engines/transformers/internals.py reaches into transformers' submodules (its cache
    objects, attention and mask registries): one file to read when transformers moves."""
    engine = SRC / "engines" / "transformers"
    reaching = [
        str(path.relative_to(SRC))
        for path in engine.rglob("*.py")
        if path.name != "internals.py" and "from transformers." in path.read_text()
    ]
    assert reaching == []
