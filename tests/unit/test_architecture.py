"""The rooms of es_ltrr and what each may import (docs/architecture.md), checked on the code.

Imports are read with `ast` (type-only imports under `if TYPE_CHECKING:` are skipped: they
document types and cannot create import cycles at run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "es_ltrr"

#: The edge: wiring, interfaces and tooling. Nothing below it may import it.
EDGE = {"cli", "server", "admin", "access", "serving", "retrain", "evaluate", "app", "bench", "bench_soak", "bench_scale", "scale_builds", "parity", "apply", "indexing", "devnode"}
#: Rooms that learn or rank from served searches.
LEARNING = {"policy", "ranking", "ltr", "record", "pipeline", "simulation", "feedback"}
#: Rooms that know nothing of searches being served or learned from.
CORE = {"_extras", "redact", "analysis", "templating", "schema", "catalog", "understanding", "arms", "engines", "embedding", "embedding_onnx", "union", "collapse", "confidence", "evaluation"}

RULES = {
    **{room: EDGE | LEARNING for room in CORE},
    **{room: EDGE for room in LEARNING},
    "datadir": EDGE | LEARNING,
    "config": EDGE | LEARNING,
}
#: Declared exceptions, each with its reason.
ALLOWED = {
    ("engines", "config"): "engines/factory.py turns Settings into an engine (the engine room's edge)",
    ("engines", "datadir"): "engines/factory.py loads the embedded index from the data dir",
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of the es_ltrr modules `source` (the text of `module`) imports at run time."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: set[str] = set()
    tree = ast.parse(source)
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            else:
                names = [node.module or ""]
            found.update(n for n in names if n.startswith("es_ltrr"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("es_ltrr"))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_rooms_import_only_what_they_may(path):
    module = _module(path)
    imported = _imports(path.read_text(), module, path.name == "__init__.py")
    assert not _violations(module, imported), (
        f"{path.relative_to(PACKAGE)} may not import {_violations(module, imported)}: see docs/architecture.md")


def _violations(module: str, imported: set[str]) -> list[str]:
    room = _room(module)
    forbidden = RULES.get(room, set())
    return sorted(t for t in imported if _room(t) in forbidden and (room, _room(t)) not in ALLOWED)


def test_the_checker_sees_relative_absolute_and_skips_type_only_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..pipeline import Searcher\n"
        "import es_ltrr.cli\n"
        "from . import lexical\n"
        "if TYPE_CHECKING:\n    from ..record import SearchResult\n"
    )
    imported = _imports(source, "es_ltrr.arms.fake")
    assert imported == {"es_ltrr.pipeline", "es_ltrr.cli", "es_ltrr.arms.lexical"}
    assert _violations("es_ltrr.arms.fake", imported) == ["es_ltrr.cli", "es_ltrr.pipeline"]
