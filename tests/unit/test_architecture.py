"""The rooms of es_ltrr and what each may import (docs/architecture.md), checked on the code.

Imports are read with `ast`. Two rules:

* **Layers.** The rooms form one order, from the floor (`common`) to the edge (`cli`); a room
  imports only itself and the rooms below it — never an arrow back up. Type-only imports
  (`if TYPE_CHECKING:`) count too: a type from a room above is a dependency on it.
* **No import cycles** between modules, type-only imports included (a cycle that only
  `TYPE_CHECKING` hides is still two modules that cannot be understood apart).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "es_ltrr"

#: The rooms, floor first. Each may import only itself and the rooms before it.
LAYERS = ("common", "catalog", "understanding", "retrieval", "ranking", "search", "feedback", "serving",
          "evaluation", "ops", "cli")
#: Sub-rooms held to a stricter rule than their room: (sub-room, what it may import besides itself).
ISOLATED = {
    "ops.devnode": (),  # test tooling: runs without the rest of es_ltrr
    "retrieval.engines": ("common",),  # an engine executes DSL; it knows no arm, policy or catalog
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """The es_ltrr modules `source` (the text of `module`) imports, type-only imports included;
    `from package import name` counts `package.name` when that is a module of its own."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("es_ltrr"):
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(submodules or {target})
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("es_ltrr"))
    return found


def _graph() -> dict[str, set[str]]:
    return {m: _imports(p.read_text(), m, p.name == "__init__.py") & MODULES.keys() - {m} for m, p in MODULES.items()}


def _violations(module: str, imported: set[str]) -> list[str]:
    room = _room(module)
    if room not in LAYERS:
        return sorted(imported)  # a module outside the rooms: every import is suspect
    below = set(LAYERS[: LAYERS.index(room) + 1]) | {""}
    bad = {t for t in imported if _room(t) not in below}
    for sub, allowed in ISOLATED.items():
        if module.startswith(f"es_ltrr.{sub}"):
            bad |= {t for t in imported if not t.startswith(f"es_ltrr.{sub}") and _room(t) not in allowed}
    return sorted(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_rooms_import_only_the_rooms_below(module):
    path = MODULES[module]
    imported = _imports(path.read_text(), module, path.name == "__init__.py")
    assert not _violations(module, imported), (
        f"{path.relative_to(PACKAGE)} may not import {_violations(module, imported)}: see docs/architecture.md")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_package_root_holds_the_rooms_and_nothing_loose():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", *LAYERS}, sorted(entries - {"__init__.py", *LAYERS})


def test_the_checker_sees_relative_absolute_and_type_only_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ...search.pipeline import Searcher\n"
        "import es_ltrr.cli\n"
        "from . import lexical\n"
        "if TYPE_CHECKING:\n    from ...search.record import SearchResult\n"
    )
    imported = _imports(source, "es_ltrr.retrieval.arms.fake")
    assert imported == {"es_ltrr.search.pipeline", "es_ltrr.cli", "es_ltrr.retrieval.arms.lexical",
                        "es_ltrr.search.record"}
    assert _violations("es_ltrr.retrieval.arms.fake", imported) == [
        "es_ltrr.cli", "es_ltrr.search.pipeline", "es_ltrr.search.record"]


def test_the_cycle_finder_finds_a_cycle_and_only_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_test_module_imports_another():
    """What tests share lives in helper modules (tests/hostile.py, tests/servers.py, ...), never
    in a test module: a test module is read alone, and collecting one never runs another's."""
    modules = sorted((PACKAGE.parent / "tests").rglob("test_*.py"))
    assert len(modules) > 50
    found = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [*(node.module or "").split("."), *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [part for a in node.names for part in a.name.split(".")]
            else:
                continue
            if any(name.startswith("test_") for name in names):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []
