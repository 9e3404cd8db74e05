"""From judgments to a trained, evaluated XGBoost ranking model.

1. **Candidates.** For each judged query the candidate union is rebuilt with *every* arm at
   its default depth (the static allocation), not with the arms the bandit happened to
   choose when users searched: the `found_<arm>` provenance features then describe what each
   arm can find for the query, not which arms a policy ran — the selection bias a model
   would otherwise learn ("hits of arms the bandit trusts are good"). Unjudged candidates of
   a judged query are labelled 0, the usual pooled-judgment assumption.
2. **Features** are logged the way serving logs them (`ltr.feature_log`: the plugin's
   `ltr_log` on a cluster that stores the featureset, else per-feature searches; NaN where a
   feature did not match), same names and order.
3. **Split** by query (a hash of the query text): train / validation / test 70/15/15, so no
   query's candidates leak across sets.
4. **Training**: `rank:ndcg` (the plugin accepts it), `base_score` 0 (no offset for the
   plugin to fold), early stopping on validation nDCG@10.
5. **Evaluation** on the test queries with ir-measures: fusion (RRF over the same
   candidates), the active model if any, and the new model — nDCG@10 and MRR (grade ≥ 2).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ...common.extras import require
from ...common.plots import pyplot, save
from .feature_log import FeatureLogger
from .featureset import FeatureSet, feature_params
from .model import LtrModel, _xgboost

Judgments = Mapping[str, Mapping[str, int]]


@dataclass
class QueryExamples:
    query: str
    ids: list[str]
    features: np.ndarray
    labels: np.ndarray
    fusion: np.ndarray  # RRF scores of the same candidates: the no-model baseline
    split: str
    intent: str = "unknown"  # what the understanding read: metrics are also reported per intent


@dataclass
class TrainingReport:
    model: LtrModel
    metrics: dict[str, Any]
    examples: list[QueryExamples] = field(default_factory=list)


def split_of(query: str) -> str:
    """train / valid / test by a stable hash of the query (70/15/15)."""
    bucket = zlib.crc32(query.encode()) % 100
    return "train" if bucket < 70 else "valid" if bucket < 85 else "test"


def collect(search: Callable[[str], Any], engine: Any, featureset: FeatureSet, logger: FeatureLogger,
            judgments: Judgments, progress: Callable[[int], None] | None = None) -> list[QueryExamples]:
    """Candidates, features and labels per judged query. `search(query)` returns the served
    record of a search with every arm and fusion ranking (its scores are the baseline).
    Queries with no positive grade are skipped: they cannot teach a ranking."""
    out = []
    for query, grades in judgments.items():
        if progress:
            progress(1)
        if not any(g > 0 for g in grades.values()):
            continue
        result = search(query)
        candidates = list(result.candidates)
        if not candidates:
            continue
        ids = [c.id for c in candidates]
        params = feature_params(query, result.understanding, candidates, result.vector, engine.flavor)
        features = logger.log(engine, featureset, params, ids)
        labels = np.array([grades.get(i, 0) for i in ids], dtype=float)
        out.append(QueryExamples(query, ids, features, labels, np.array(result.scores, dtype=float), split_of(query),
                                 result.understanding.intent))
    return out


def _matrix(examples: Sequence[QueryExamples]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    x = np.concatenate([e.features for e in examples]) if examples else np.zeros((0, 0))
    y = np.concatenate([e.labels for e in examples]) if examples else np.zeros(0)
    return x, y, [len(e.ids) for e in examples]


def train(examples: Sequence[QueryExamples], featureset: FeatureSet, name: str, rounds: int = 300,
          early_stopping: int = 30, seed: int = 1) -> LtrModel:
    """XGBoost rank:ndcg on the train split, early-stopped on the validation split."""
    xgb = _xgboost()
    sets = {s: [e for e in examples if e.split == s] for s in ("train", "valid")}
    if not sets["train"] or not sets["valid"]:
        raise ValueError(f"too few judged queries to train: {len(sets['train'])} train, {len(sets['valid'])} "
                         "validation (need at least one of each; collect more feedback)")
    data = {}
    for split, items in sets.items():
        x, y, groups = _matrix(items)
        data[split] = xgb.DMatrix(x, label=y, feature_names=featureset.names, missing=np.nan)
        data[split].set_group(groups)
    params = {"objective": "rank:ndcg", "eval_metric": "ndcg@10", "base_score": 0.0, "max_depth": 4, "eta": 0.1,
              "min_child_weight": 1, "subsample": 0.9, "colsample_bytree": 0.9, "seed": seed, "nthread": 2}
    booster = xgb.train(params, data["train"], rounds, evals=[(data["valid"], "valid")],
                        early_stopping_rounds=early_stopping, verbose_eval=False)
    booster = booster[: booster.best_iteration + 1]
    return LtrModel(booster, featureset, name)


def evaluate(examples: Sequence[QueryExamples], rankers: Mapping[str, Callable[[QueryExamples], np.ndarray]],
             split: str = "test", intent: str | None = None) -> dict[str, dict[str, float]]:
    """nDCG@10 and MRR (grade ≥ 2) per ranker on `split` (and `intent`, when given), by ir-measures."""
    ir = require("ir_measures", "simulate", "training metrics (ir-measures)")
    items = [e for e in examples if e.split == split and (intent is None or e.intent == intent)]
    qrels = [ir.Qrel(e.query, i, int(g)) for e in items for i, g in zip(e.ids, e.labels) if g > 0]
    ndcg, rr = ir.nDCG @ 10, ir.RR(rel=2)
    out = {}
    for name, score in rankers.items():
        run = [ir.ScoredDoc(e.query, i, float(s)) for e in items for i, s in zip(e.ids, score(e))]
        result = ir.calc_aggregate([ndcg, rr], qrels, run) if run and qrels else {}
        out[name] = {"ndcg10": float(result.get(ndcg, 0.0)), "mrr": float(result.get(rr, 0.0)), "queries": len(items)}
    return out


def evaluate_by_intent(examples: Sequence[QueryExamples],
                       rankers: Mapping[str, Callable[[QueryExamples], np.ndarray]]) -> dict[str, dict[str, dict[str, float]]]:
    """`evaluate` for each intent present among the test queries."""
    intents = sorted({e.intent for e in examples if e.split == "test"})
    return {intent: evaluate(examples, rankers, intent=intent) for intent in intents}


def report_plots(model: LtrModel, by_intent: Mapping[str, Mapping[str, Mapping[str, float]]], out: Path) -> list[Path]:
    """feature_importance.png (total gain per feature) and ndcg_by_intent.png (per ranker)."""
    plt = pyplot("the training report's plots")
    gain = model.booster.get_score(importance_type="total_gain")
    names = sorted(gain, key=gain.get)[-20:]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.5))
    ax.barh(names, [gain[n] for n in names])
    ax.set(xlabel="total gain", title=f"Feature importance: {model.name}")
    save(fig, out / "feature_importance.png")
    intents = list(by_intent)
    rankers = sorted({r for m in by_intent.values() for r in m})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(intents) + 2), 4))
    width = 0.8 / max(1, len(rankers))
    for j, ranker in enumerate(rankers):
        ax.bar([i + j * width for i in range(len(intents))],
               [by_intent[intent].get(ranker, {}).get("ndcg10", 0.0) for intent in intents], width, label=ranker)
    ax.set_xticks([i + width * (len(rankers) - 1) / 2 for i in range(len(intents))], intents, rotation=20)
    ax.set(ylabel="nDCG@10 (held-out)", title="nDCG@10 by intent")
    ax.legend()
    save(fig, out / "ndcg_by_intent.png")
    return [out / "feature_importance.png", out / "ndcg_by_intent.png"]


# -- judgments files ------------------------------------------------------------------------

_QUERY_HEADER = re.compile(r"^#\s*qid:(\S+):\s*(.+?)\s*$")
_JUDGMENT = re.compile(r"^(\d{1,6})\s+qid:(\S+)\s*#\s*(\S+)")  # a grade of 1-6 digits


def read_ranklib(path: Path) -> dict[str, dict[str, int]]:
    """Judgments in the o19s/RankLib format: `# qid:1: query text` headers and `grade qid:1 # docid`
    lines. A line that is neither (nor blank or another comment) is a ValueError naming it."""
    queries: dict[str, str] = {}
    out: dict[str, dict[str, int]] = {}
    for number, line in _lines(path):
        header = _QUERY_HEADER.match(line)
        if header:
            queries[header.group(1)] = header.group(2)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        judged = _JUDGMENT.match(line.strip())
        if not judged:
            raise ValueError(f"{path}:{number}: not a judgment ('grade qid:N # docid'): {line.strip()[:80]!r}")
        grade, qid, doc = judged.groups()
        if qid not in queries:
            raise ValueError(f"{path}:{number}: qid:{qid} has no '# qid:{qid}: query' header before it")
        out.setdefault(queries[qid], {})[doc] = int(grade)
    return out


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read judgments {path}: {exc}") from exc
