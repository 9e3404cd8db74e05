"""From users' feedback (or judgments) to a trained XGBoost ranking model.

Two sources of labels, compared in docs/training.md:

* **Clicks, as users saw them** (`collect_clicks`, the default): every logged page that
  earned engagement is one group, its entities in the order they were shown, labelled by
  what the user did (2 a play or like, 1 a click, 0 nothing). LambdaMART learns from them
  with XGBoost's `lambdarank_unbiased`: it estimates from the data how much attention each
  position gets and corrects the gradients for it (unbiased LambdaMART, Hu et al. 2019), so
  a click deep on the page counts for more than one at the top. Features are those the
  page was ranked on, not what the page's own clicks taught since: its candidates are
  rebuilt from the arms' ranked ids and scores the log kept (`logged_candidates`), so
  retrieval's features (each arm's rank and score, fusion, arms found) are as served; the
  document features are logged on the index, with the Q2E memory's value as it stood when
  the page was served (`FeedbackStore.memory_at`). Without that, a click teaches the memory
  and the memory feature then "predicts" the very click (a model trained on a cluster's
  slice put 79 % of its gain on `q2e_memory` and lost to fusion by half). A page logged
  before arm scores were kept is searched again with the arms and depths it was served
  with (and its impression id: the explore arm's order replays).
* **Judgments** (`collect_judged`): graded (query, entity) pairs — a position-based click
  model's grades of the log (`clickmodel.py`), or a RankLib file. Each judged query's
  candidates are rebuilt with every arm at its default depth. Candidates the judgments do
  not grade are left out when the grades come from clicks (an entity nobody was shown is
  not known to be bad) and labelled 0 when they come from a file (the pooled-judgment rule).

Features are logged the way serving logs them (`feature_log`: the plugin's `ltr_log` on a
cluster that stores the featureset, else per-feature searches; NaN where a feature did not
match), same names and order. Groups are split by a hash of their query (train / validation
85/15, so no query leaks across), `base_score` is 0 (no offset for the plugin to fold), and
training stops early on validation nDCG@10. Whether a model serves is decided elsewhere, on
judged queries (`ops/train.py`).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ...common.plots import pyplot, save
from ...retrieval.engines.embedded.lucene import quantize_feature
from ...retrieval.union import ArmResult, logged_candidates
from .feature_log import FeatureLogger
from .featureset import FeatureSet, feature_params
from .model import LtrModel, _xgboost

Judgments = Mapping[str, Mapping[str, int]]
#: Where labels come from: the pages users saw and what they did (`clicks`), or graded pairs
#: (`pbm`: the position-based click model's grades of the log; also a RankLib file).
LABELS = ("clicks", "pbm")


@dataclass
class QueryExamples:
    """One group: a query's entities (rows of `features`, in display order for clicks) and labels."""

    query: str
    ids: list[str]
    features: np.ndarray
    labels: np.ndarray
    split: str
    intent: str = "unknown"  # what the understanding read


def split_of(query: str) -> str:
    """train / valid by a stable hash of the query (85/15).

    >>> split_of("taylor swift") == split_of("taylor swift") and split_of("taylor swift") in ("train", "valid")
    True
    """
    return "train" if zlib.crc32(query.encode()) % 100 < 85 else "valid"


def click_label(weight: float) -> int:
    """What a page's engagement weight teaches: a play or like (≥ 1) 2, a click (> 0) 1, else 0."""
    return 2 if weight >= 1.0 else 1 if weight > 0 else 0


@dataclass(frozen=True)
class LoggedPage:
    """One served page as the feedback log keeps it: what was searched, with which arms and
    depths, the entities shown in order, and what users did with them (entity → weight);
    when it was served and what each arm returned (none from a source without impressions)."""

    query: str
    impression_id: str
    allocations: Mapping[str, int]
    page: Sequence[str]
    engagement: Mapping[str, float]
    served_at: float | None = None
    arm_results: Sequence[ArmResult] = ()


#: The memory's value of (query, entities) when a page was served: `FeedbackStore.memory_at`.
MemoryAt = Callable[[LoggedPage, Sequence[str]], Mapping[str, "float | None"]]
#: The document feature that reads the Q2E memory (`featuresets/music.json`).
MEMORY_FEATURE = "q2e_memory"


def collect_clicks(pages: Iterable[LoggedPage], search: Callable[[LoggedPage], Any], engine: Any,
                   featureset: FeatureSet, logger: FeatureLogger,
                   progress: Callable[[int], None] | None = None,
                   memory_at: MemoryAt | None = None) -> list[QueryExamples]:
    """One group per page that earned engagement: its entities in display order, labelled by
    `click_label`, with the features it was ranked on (module docstring). `search(page)` runs
    the page's query again as it was served (its arms and depths): its understanding and
    vector, and its candidates when the log has none; an entity no longer in the index (no
    feature matches it) is left out."""
    out = []
    for page in pages:
        if progress:
            progress(1)
        if not any(w > 0 for w in page.engagement.values()):
            continue  # no click, no pair to learn from
        result = search(page)
        candidates = logged_candidates(page.arm_results) if page.arm_results else None
        candidates = list(result.candidates) if candidates is None else candidates
        found = {c.id for c in candidates}
        shown = [i for i in dict.fromkeys(page.page) if i in found]
        if len(shown) < 2:
            continue
        params = feature_params(page.query, result.understanding, candidates, result.vector,
                                engine.flavor, engine.capabilities.memory)
        features = logger.log(engine, featureset, params, shown)
        indexed = ~np.isnan(features).all(axis=1)  # an entity in the index matches some feature
        if not indexed.all():
            shown, features = [i for i, kept in zip(shown, indexed) if kept], features[indexed]
            if len(shown) < 2:
                continue
        if memory_at is not None and MEMORY_FEATURE in featureset.names:
            features = _memory_as_served(features, featureset.names.index(MEMORY_FEATURE), shown,
                                         memory_at(page, shown))
        labels = np.array([click_label(page.engagement.get(i, 0.0)) for i in shown], dtype=float)
        out.append(QueryExamples(page.query, shown, features, labels, split_of(page.query),
                                 result.understanding.intent))
    return out


def _memory_as_served(features: np.ndarray, column: int, ids: Sequence[str],
                      values: Mapping[str, float | None]) -> np.ndarray:
    """`features` with the memory column of `ids` set to the values the page was served with
    (NaN: no value, the feature did not match), stored as the index stores a rank feature."""
    out = features.copy()
    for row, entity in enumerate(ids):
        if entity in values:
            value = values[entity]
            out[row, column] = np.nan if value is None else float(quantize_feature(np.array([value]))[0])
    return out


def collect_judged(search: Callable[[str], Any], engine: Any, featureset: FeatureSet, logger: FeatureLogger,
                   judgments: Judgments, unjudged: float | None,
                   progress: Callable[[int], None] | None = None) -> list[QueryExamples]:
    """Candidates, features and labels per judged query. `search(query)` returns the record of
    a search with every arm. Unjudged candidates get the label `unjudged`, or are left out
    when it is None. Queries with no positive grade are skipped: they teach no ranking."""
    out = []
    for query, grades in judgments.items():
        if progress:
            progress(1)
        if not any(g > 0 for g in grades.values()):
            continue
        result = search(query)
        candidates = list(result.candidates)
        ids = [c.id for c in candidates if unjudged is not None or c.id in grades]
        if len(ids) < 2:
            continue
        params = feature_params(query, result.understanding, candidates, result.vector, engine.flavor,
                                engine.capabilities.memory)
        labels = np.array([grades.get(i, unjudged or 0.0) for i in ids], dtype=float)
        out.append(QueryExamples(query, ids, logger.log(engine, featureset, params, ids), labels, split_of(query),
                                 result.understanding.intent))
    return out


def _matrix(examples: Sequence[QueryExamples]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    x = np.concatenate([e.features for e in examples]) if examples else np.zeros((0, 0))
    y = np.concatenate([e.labels for e in examples]) if examples else np.zeros(0)
    return x, y, [len(e.ids) for e in examples]


def booster_params(labels: str, seed: int) -> dict[str, Any]:
    """XGBoost's parameters for a label source: LambdaMART on nDCG for both, and for clicks in
    display order with the position bias estimated from the data (`lambdarank_unbiased`).
    On nDCG rather than on pairs: on judged queries it ranked best (benchmarks/labels.py,
    docs/training.md)."""
    params = {"eval_metric": "ndcg@10", "base_score": 0.0, "max_depth": 4, "eta": 0.1, "min_child_weight": 1,
              "subsample": 0.9, "colsample_bytree": 0.9, "seed": seed, "nthread": 2}
    if labels == "clicks":
        return {**params, "objective": "rank:ndcg", "lambdarank_unbiased": True}
    return {**params, "objective": "rank:ndcg"}


def train(examples: Sequence[QueryExamples], featureset: FeatureSet, name: str, labels: str = "clicks",
          rounds: int = 300, early_stopping: int = 30, seed: int = 1,
          overrides: Mapping[str, Any] | None = None) -> LtrModel:
    """XGBoost on the train split, early-stopped on the validation split (`overrides`: other
    XGBoost parameters, for comparisons such as benchmarks/labels.py)."""
    xgb = _xgboost()
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")
    sets = {s: [e for e in examples if e.split == s] for s in ("train", "valid")}
    if not sets["train"] or not sets["valid"]:
        raise ValueError(f"too few queries to train: {len(sets['train'])} train, {len(sets['valid'])} "
                         "validation (need at least one of each; collect more feedback)")
    data = {}
    for split, items in sets.items():
        x, y, groups = _matrix(items)
        data[split] = xgb.DMatrix(x, label=y, feature_names=featureset.names, missing=np.nan)
        data[split].set_group(groups)
    params = {**booster_params(labels, seed), **(overrides or {})}
    booster = xgb.train(params, data["train"], rounds, evals=[(data["valid"], "valid")],
                        early_stopping_rounds=early_stopping, verbose_eval=False)
    booster = booster[: booster.best_iteration + 1]
    return LtrModel(booster, featureset, name)


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
