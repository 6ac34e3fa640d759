"""The layers of docs/architecture.md, kept: every import (module level or inside a function) runs downward
or within its own package, and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first; a package may import its own modules and those of the packages before it.
LAYERS = ["errors", "quantities", "yamlio", "metrology", "records", "calibration", "instruments", "sim", "procedures", "rigs",
          "reports", "engine", "web", "cli", "__main__"]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / "meterlab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """The import nodes under `if TYPE_CHECKING:`: read by type checkers only, never run."""
    nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            nodes |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return nodes


def _imports(module: str, path: Path, *, runtime_only: bool = False) -> set[str]:
    """The meterlab modules `module` imports, resolved to modules (a `from package import name` that names a
    submodule counts as that submodule); `runtime_only` leaves out the imports for type checkers."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree) if runtime_only else set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}  # every import: the layers
RUNTIME = {module: _imports(module, path, runtime_only=True) for module, path in MODULES.items()}  # circles


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_package_has_a_layer():
    unplaced = [m for m in MODULES if m != "meterlab" and _layer(m) is None]
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_import_runs_upward():
    upward = [f"{module} imports {target}"
              for module, targets in GRAPH.items() if _layer(module) is not None
              for target in sorted(targets)
              if _layer(target) is not None and _layer(target) > _layer(module)]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module in the imports that run (Tarjan); a type
    annotation may name a module that imports this one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in RUNTIME[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in RUNTIME:
        if node not in index:
            visit(node)
    return components


def test_no_modules_import_each_other():
    assert not _cycles(), f"import circles: {_cycles()}"


def test_the_check_sees_a_circle():
    """The runner and the measurement once imported each other (one of them inside a function)."""
    RUNTIME["meterlab.engine.measurement"].add("meterlab.engine.runner")
    try:
        assert ["meterlab.engine.measurement", "meterlab.engine.runner"] in _cycles()
    finally:
        RUNTIME["meterlab.engine.measurement"].discard("meterlab.engine.runner")


@pytest.mark.parametrize("upward_import", ["meterlab.cli.run", "meterlab.engine.runner"])
def test_the_check_sees_an_upward_import(upward_import):
    """The check itself can fail: a records module importing the engine or the command line is caught."""
    GRAPH["meterlab.records.store"].add(upward_import)
    try:
        with pytest.raises(AssertionError, match=f"meterlab.records.store imports {upward_import}"):
            test_no_import_runs_upward()
    finally:
        GRAPH["meterlab.records.store"].discard(upward_import)
