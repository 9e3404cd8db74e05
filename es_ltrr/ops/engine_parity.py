"""Parity between two engines: does each arm return the same top-k on both?

The embedded engine promises to execute the arm templates like a cluster does. This module
measures it: for every query of a set, render each arm once (same understanding, vector and
seed), run the bodies on both engines and compare the top-k id sets. `es-ltrr parity`
prints the table; an integration test holds the real OpenSearch node to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from tabulate import tabulate

from ..retrieval.arms import ARMS, ArmInput
from ..retrieval.engines.base import Engine
from ..search.pipeline import Searcher
from ..understanding import understand


@dataclass
class ArmParity:
    arm: str
    overlaps: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def mean(self) -> float:
        return sum(self.overlaps) / len(self.overlaps) if self.overlaps else float("nan")

    @property
    def top1_agree(self) -> float:
        return self._top1 / len(self.overlaps) if self.overlaps else float("nan")

    @property
    def same_total(self) -> float:
        """Share of queries where both engines matched the same number of documents."""
        return self._same_total / len(self.overlaps) if self.overlaps else float("nan")

    _top1: int = 0
    _same_total: int = 0


def overlap(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k' where k' = max(len) (1.0 when both are empty)."""
    top_a, top_b = set(a[:k]), set(b[:k])
    denom = max(len(top_a), len(top_b))
    return 1.0 if denom == 0 else len(top_a & top_b) / denom


def measure(searcher: Searcher, other: Engine, queries: Sequence[str], k: int = 10,
            progress: Callable[[int], None] | None = None) -> dict[str, ArmParity]:
    """Per-arm top-k overlap of `searcher.engine` versus `other` on `queries`."""
    results = {name: ArmParity(name) for name in ARMS}
    for i, query in enumerate(queries, start=1):
        u = understand(query, searcher.gazetteer)
        vector = searcher.encoder.encode_query(query) if searcher.encoder else None
        inp = ArmInput(query, u, vector, seed=i, catalog=searcher.catalog)
        names, bodies_a, bodies_b = [], [], []
        for name, arm in ARMS.items():
            body_a = arm.render(replace(inp, memory=searcher.memory), k, searcher.engine.flavor)
            body_b = arm.render(replace(inp, memory=other.capabilities.memory), k, other.flavor)
            if body_a is None or body_b is None:
                continue
            body_a["track_total_hits"] = body_b["track_total_hits"] = True
            names.append(name)
            bodies_a.append(body_a)
            bodies_b.append(body_b)
        for name, ra, rb in zip(names, searcher.engine.msearch(bodies_a), other.msearch(bodies_b)):
            if "error" in ra or "error" in rb:
                results[name].errors += 1
                continue
            ids_a = [h["_id"] for h in ra["hits"]["hits"]]
            ids_b = [h["_id"] for h in rb["hits"]["hits"]]
            results[name].overlaps.append(overlap(ids_a, ids_b, k))
            results[name]._top1 += int(ids_a[:1] == ids_b[:1])
            results[name]._same_total += int(_total(ra) == _total(rb))
        if progress:
            progress(1)
    return results


def _total(response: dict) -> int:
    total = response["hits"].get("total", 0)
    return total["value"] if isinstance(total, dict) else int(total)


def table(results: dict[str, ArmParity], k: int, left: str, right: str) -> str:
    rows = [
        [r.arm, len(r.overlaps), r.errors, f"{r.mean:.2f}", f"{r.top1_agree:.2f}", f"{r.same_total:.2f}"]
        for r in results.values()
    ]
    headers = ["arm", "queries", "errors", f"top-{k} overlap", "same top-1", "same match count"]
    return f"{left} vs {right}\n" + tabulate(rows, headers=headers)
