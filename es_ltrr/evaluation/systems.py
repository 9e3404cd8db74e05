"""The systems under comparison and their timed runs over judged queries.

Systems (each a real search, timed):

* `bm25` — the lexical arm alone (depth 100), in its own order;
* `hybrid` — BM25 + kNN (depth 100 each), each arm's scores min-max normalized per query and
  combined 0.5/0.5, as OpenSearch's hybrid query with its normalization processor does;
* `rrf_all_arms` — every arm at its default depth fused with reciprocal rank fusion, as
  Elasticsearch's `rrf` retriever does (es-ltrr's static allocation);
* `all_arms_ltr` — every arm + the active LTR model (when the data dir has one);
* `es-ltrr` — the configured policy (Thompson, with its learned state) + the active ranker.

`hybrid` and `rrf_all_arms` run on the node as one fused search where the node can
(`node.py`); elsewhere the sidecar fuses the arms' results (`executed_by` says which).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from ..ranking import RRFRanker
from ..ranking.hybrid import HybridRanker
from ..retrieval.policy import StaticPolicy
from ..retrieval.policy.static import default_allocation
from ..search.request import SearchRequest
from .cluster_fusion import NodeFusion, node_search

HYBRID_DEPTHS = {"lexical": 100, "semantic": 100}


@dataclass(frozen=True)
class System:
    """One system: its search (query text → something with `candidates` and `scores`) and
    who fuses its arms ("sidecar" or "cluster"; `reason`: why the node could not, or how its
    fusion differs where it does)."""

    name: str
    search: Callable[[str], Any]
    executed_by: str = "sidecar"
    reason: str = ""


@dataclass
class SystemRun:
    name: str
    ranked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # query id → (doc, score)
    candidates: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    executed_by: str = "sidecar"


def run_system(system: System, queries: Sequence[Any], progress: Callable[[int], None] | None = None) -> SystemRun:
    """Search every query, keeping the ranked candidates (query id = its position)."""
    run = SystemRun(system.name, executed_by=system.executed_by)
    for i, q in enumerate(queries):
        start = time.perf_counter()
        result = system.search(q.text)
        run.latency_ms.append((time.perf_counter() - start) * 1000)
        run.ranked[str(i)] = [(c.id, float(s)) for c, s in zip(result.candidates, result.scores)]
        run.candidates.append(len(result.candidates))
        if progress:
            progress(1)
    return run


def systems(searcher: Any, active_ranker: Any | None, fusion: NodeFusion | None = None) -> list[System]:
    """Every system, built from one searcher (its arms, engine and encoder); with `fusion`,
    the fused baselines the node executes itself go to the node."""
    rrf = RRFRanker()

    def with_(policy: Any, ranker: Any) -> Callable[[str], Any]:
        configured = replace(searcher, policy=policy, ranker=ranker, challenger=None)
        return lambda text: configured.search(SearchRequest(text, k=10))

    def fused(name: str, depths: dict[str, int], ranker: Any) -> System:
        if fusion is not None and fusion.runs.get(name):
            return System(name, node_search(searcher, fusion, name, depths), "cluster", fusion.notes.get(name, ""))
        reason = fusion.reasons.get(name, "") if fusion is not None else ""
        return System(name, with_(StaticPolicy(depths), ranker), "sidecar", reason)

    all_arms = {arm: depth for arm, depth in default_allocation().items() if depth > 0}
    out = [System("bm25", with_(StaticPolicy({"lexical": 100}), rrf)),
           fused("hybrid", HYBRID_DEPTHS, HybridRanker()),
           fused("rrf_all_arms", all_arms, rrf)]
    if active_ranker is not None:
        out.append(System("all_arms_ltr", with_(StaticPolicy(), active_ranker)))
    out.append(System("es-ltrr", with_(searcher.policy, searcher.ranker)))
    return out


def subset(run: SystemRun, positions: Sequence[int]) -> SystemRun:
    """The run restricted to the queries at `positions`, renumbered from 0 (one judged set)."""
    return SystemRun(run.name, {str(new): run.ranked[str(old)] for new, old in enumerate(positions)},
                     [run.candidates[i] for i in positions], [run.latency_ms[i] for i in positions], run.executed_by)
