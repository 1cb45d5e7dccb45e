"""The client side stands alone: endpoint/ imports only itself and the wire-level modules, its
modules form no cycle, and none imports another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import sagemaker_openai

PACKAGE = Path(sagemaker_openai.__file__).parent
ENDPOINT = PACKAGE / "endpoint"
ALLOWED = (
    "sagemaker_openai.endpoint",
    "sagemaker_openai.protocol",
    "sagemaker_openai.streaming",
    "sagemaker_openai.errors",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, names imported from it) for each import of this project in the file."""
    module_name = _module_name(path)
    package = module_name if path.name == "__init__.py" else module_name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [alias.name for alias in node.names]
            if not node.module:  # `from . import request`: each name is a module
                found += [(f"{module}.{name}", []) for name in names]
            else:
                found.append((module, names))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return [(m, n) for m, n in found if m.startswith("sagemaker_openai")]


def _graph() -> dict[str, list[tuple[str, list[str]]]]:
    return {_module_name(path): _imports(path) for path in sorted(ENDPOINT.rglob("*.py"))}


def test_endpoint_imports_only_itself_and_the_wire_modules() -> None:
    outside = {
        (module, imported)
        for module, imports in _graph().items()
        for imported, _ in imports
        if not imported.startswith(ALLOWED)
    }
    assert outside == set()
    assert {"sagemaker_openai.endpoint.check.report", "sagemaker_openai.endpoint.client"} <= set(
        _graph()
    )


def test_no_private_name_crosses_a_module() -> None:
    private = {
        (module, imported, name)
        for module, imports in _graph().items()
        for imported, names in imports
        for name in names
        if name.startswith("_")
    }
    assert private == set()


def test_no_import_cycle() -> None:
    edges = {module: {imported for imported, _ in imports} for module, imports in _graph().items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [module for module in edges if reaches(module, module, {module})] == []
