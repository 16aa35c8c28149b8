"""The package's layering, read from the source with ``ast``: no module imports one that
imports it back (directly or through others), and the engine stays free of the GUI, the
training code and the CLI, so that it can be used headless and tested on its own.

Every import in a file counts, those inside functions too: a function-local import still
ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "malaria_gui"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """The malaria_gui modules that module ``name`` imports, anywhere in its file."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import mod" imports the module pkg.mod when there is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            # "import a.b.c" names a.b.c; the nearest real module is what is imported.
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_real_imports():
    """Guards the parser: known edges must be found, a function-local one included."""
    assert "malaria_gui.gui.session" in GRAPH["malaria_gui.gui.main_window"]
    assert "malaria_gui.engine.labels" in GRAPH["malaria_gui.engine.scorer"]
    assert "malaria_gui.gui.app" in GRAPH["malaria_gui.cli"]  # imported inside a function


def test_no_module_imports_one_that_imports_it_back():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("engine_module", sorted(n for n in MODULES if n.startswith(f"{PACKAGE}.engine")))
def test_the_engine_imports_nothing_from_gui_training_or_cli(engine_module):
    forbidden = (f"{PACKAGE}.gui", f"{PACKAGE}.training", f"{PACKAGE}.cli")
    bad = sorted(m for m in GRAPH[engine_module] if m == forbidden[2] or m.startswith(forbidden[:2]))
    assert not bad, f"{engine_module} imports {bad}"
