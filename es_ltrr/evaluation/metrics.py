"""Metrics of the systems' runs on judged queries, with ir-measures, and paired significance.

Per system, overall and per intent: nDCG@10 (graded), MRR and recall@100 (an entity graded
≥ 2 counts as relevant; recall of the relevant entities among the candidates), candidates
per query, latency p50/p99; a paired t-test of the baseline's (es-ltrr's) per-query nDCG@10
against each other system on the same queries.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..common.extras import require
from .systems import SystemRun

#: The keys of every system's entry (the `--json` contract).
SYSTEM_KEYS = ("ndcg10", "mrr", "recall100", "candidates", "p50_ms", "p99_ms", "executed_by")


def measure(runs: Mapping[str, SystemRun], queries: Sequence[Any], baseline: str = "es-ltrr") -> dict[str, Any]:
    """{"queries", "systems", "by_intent", "significance"} of `runs` on `queries` (each with
    `grades` and `intent`; query id = position)."""
    ir = require("ir_measures", "simulate", "evaluation metrics (ir-measures)")
    qrels = [ir.Qrel(str(i), doc, grade) for i, q in enumerate(queries) for doc, grade in q.grades.items() if grade > 0]
    ndcg, rr, recall = ir.nDCG @ 10, ir.RR(rel=2), ir.R(rel=2) @ 100
    every = [str(i) for i in range(len(queries))]
    by_intent = {intent: [str(i) for i, q in enumerate(queries) if q.intent == intent]
                 for intent in sorted({q.intent for q in queries})}
    out: dict[str, Any] = {"queries": len(queries), "systems": {}, "by_intent": {}, "significance": {}}
    per_query: dict[str, list[float]] = {}
    for name, run in runs.items():
        values: dict[Any, dict[str, float]] = {m: {} for m in (ndcg, rr, recall)}
        scored = [ir.ScoredDoc(qid, doc, s) for qid, docs in run.ranked.items() for doc, s in docs]
        for metric in ir.iter_calc([ndcg, rr, recall], qrels, scored):
            values[metric.measure][metric.query_id] = metric.value

        def mean(metric: Any, ids: list[str]) -> float:
            return float(np.mean([values[metric].get(i, 0.0) for i in ids])) if ids else 0.0

        per_query[name] = [values[ndcg].get(i, 0.0) for i in every]
        out["systems"][name] = {
            "ndcg10": mean(ndcg, every), "mrr": mean(rr, every), "recall100": mean(recall, every),
            "candidates": float(np.mean(run.candidates)),
            "p50_ms": float(np.percentile(run.latency_ms, 50)), "p99_ms": float(np.percentile(run.latency_ms, 99)),
            "executed_by": run.executed_by,
        }
        for intent, ids in by_intent.items():
            out["by_intent"].setdefault(intent, {})[name] = {
                "ndcg10": mean(ndcg, ids), "mrr": mean(rr, ids), "recall100": mean(recall, ids),
                "candidates": float(np.mean([run.candidates[int(i)] for i in ids])), "queries": len(ids)}
    if baseline in per_query:
        out["significance"] = {name: paired(per_query[baseline], theirs)
                               for name, theirs in per_query.items() if name != baseline}
    return out


def paired(ours: Sequence[float], theirs: Sequence[float]) -> dict[str, float | None]:
    """Mean difference of per-query nDCG@10 and the paired t-test's p-value (None when every
    difference is equal, e.g. two identical systems)."""
    from scipy.stats import ttest_rel

    test = ttest_rel(ours, theirs)
    return {"delta_ndcg10": float(np.mean(ours) - np.mean(theirs)),
            "p_value": None if np.isnan(test.pvalue) else float(test.pvalue)}
