"""What a user would run instead of es-ltrr, measured side by side on the same judged queries.

Systems (each a real search through the pipeline, timed):

* `bm25` — the lexical arm alone, in its own order;
* `hybrid` — BM25 + kNN, each arm's scores min-max normalized per query and combined
  0.5/0.5, as OpenSearch's hybrid query with its normalization processor does;
* `rrf_all_arms` — every arm fused with reciprocal rank fusion, as Elasticsearch's `rrf`
  retriever does (es-ltrr's static allocation);
* `all_arms_ltr` — every arm + the active LTR model (when the data dir has one);
* `es-ltrr` — the configured policy (Thompson, with its learned state) + the active ranker.

Metrics per system, overall and per intent, with ir-measures: nDCG@10 and MRR (grade ≥ 2) of
the ranked candidates, recall@100 of the relevant entities among the candidates,
candidates per query, latency p50/p99; and a paired t-test of es-ltrr's per-query nDCG@10
against each other system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._extras import require
from .api import SearchRequest
from .policy import StaticPolicy
from .ranking import RRFRanker
from .ranking.hybrid import HybridRanker

@dataclass
class SystemRun:
    name: str
    ranked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # query id → (doc, score)
    candidates: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)


def run_system(name: str, search: Callable[[str], Any], queries: Sequence[Any],
               progress: Callable[[int], None] | None = None) -> SystemRun:
    """Search every query with `search` (query text → SearchResult), keeping the ranked candidates."""
    run = SystemRun(name)
    for i, q in enumerate(queries):
        start = time.perf_counter()
        result = search(q.text)
        run.latency_ms.append((time.perf_counter() - start) * 1000)
        run.ranked[str(i)] = [(c.id, float(s)) for c, s in zip(result.candidates, result.scores)]
        run.candidates.append(len(result.candidates))
        if progress:
            progress(1)
    return run


def measure(runs: Mapping[str, SystemRun], queries: Sequence[Any], baseline: str = "es-ltrr") -> dict[str, Any]:
    """Metrics per system (overall and by intent) and paired t-tests against `baseline`."""
    ir = require("ir_measures", "simulate", "evaluation metrics (ir-measures)")
    from scipy.stats import ttest_rel

    qrels = [ir.Qrel(str(i), doc, grade) for i, q in enumerate(queries) for doc, grade in q.grades.items() if grade > 0]
    ndcg, rr, recall = ir.nDCG @ 10, ir.RR(rel=2), ir.R(rel=2) @ 100
    intents = sorted({q.intent for q in queries})
    per_query: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"systems": {}, "by_intent": {}, "significance": {}}
    for name, run in runs.items():
        scored = [ir.ScoredDoc(qid, doc, s) for qid, docs in run.ranked.items() for doc, s in docs]
        values = {m: {} for m in (ndcg, rr, recall)}
        for metric in ir.iter_calc([ndcg, rr, recall], qrels, scored):
            values[metric.measure][metric.query_id] = metric.value
        per_query[name] = {str(i): values[ndcg].get(str(i), 0.0) for i in range(len(queries))}

        def mean(metric, ids) -> float:
            return float(np.mean([values[metric].get(i, 0.0) for i in ids])) if ids else 0.0

        every = [str(i) for i in range(len(queries))]
        out["systems"][name] = {
            "ndcg10": mean(ndcg, every), "mrr": mean(rr, every), "recall100": mean(recall, every),
            "candidates": float(np.mean(run.candidates)),
            "latency_p50_ms": float(np.percentile(run.latency_ms, 50)),
            "latency_p99_ms": float(np.percentile(run.latency_ms, 99)),
        }
        for intent in intents:
            ids = [str(i) for i, q in enumerate(queries) if q.intent == intent]
            out["by_intent"].setdefault(intent, {})[name] = {"ndcg10": mean(ndcg, ids), "mrr": mean(rr, ids),
                                                              "recall100": mean(recall, ids), "queries": len(ids)}
    if baseline in per_query:
        ours = [per_query[baseline][str(i)] for i in range(len(queries))]
        for name in runs:
            if name != baseline:
                theirs = [per_query[name][str(i)] for i in range(len(queries))]
                test = ttest_rel(ours, theirs)
                out["significance"][name] = {"delta_ndcg10": float(np.mean(ours) - np.mean(theirs)),
                                             "p_value": None if np.isnan(test.pvalue) else float(test.pvalue)}
    return out


def systems(searcher: Any, active_ranker: Any | None) -> dict[str, Callable[[str], Any]]:
    """The searches of every system, built from one searcher (its arms, engine and encoder)."""

    fusion = RRFRanker()

    def with_(policy: Any, ranker: Any) -> Callable[[str], Any]:
        configured = replace(searcher, policy=policy, ranker=ranker, challenger=None)
        return lambda text: configured.search(SearchRequest(text, k=10))

    out = {
        "bm25": with_(StaticPolicy({"lexical": 100}), fusion),
        "hybrid": with_(StaticPolicy({"lexical": 100, "semantic": 100}), HybridRanker()),
        "rrf_all_arms": with_(StaticPolicy(), fusion),
    }
    if active_ranker is not None:
        out["all_arms_ltr"] = with_(StaticPolicy(), active_ranker)
    out["es-ltrr"] = with_(searcher.policy, searcher.ranker)
    return out
