"""`es-ltrr train`: feedback log → click-model judgments → features → XGBoost → gate → activate.

The steps live in their rooms (`ltr.clickmodel`, `ltr.training`, `feedback`, `simulation`);
this module wires them for one command, on the embedded engine (a cluster's upload, parity
check and `sltr` activation stay with `es-ltrr upload-model`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from .api import SearchRequest
from .catalog import load_catalog
from .config import Settings
from .datadir import DataDir
from .feedback import FeedbackLoop, FeedbackStore
from .feedback.store import FILENAME
from .ltr import LtrModel, default_featureset
from .ltr.clickmodel import PBM, Showing, grades
from .ltr.feature_log import MsearchFeatureLogger
from .ltr.training import QueryExamples, collect, evaluate, read_ranklib, train
from .pipeline import Searcher
from .policy import StaticPolicy

Say = Callable[[str], None]


@dataclass
class TrainOptions:
    judgments: Path | None = None
    #: Showings of a (query, entity) before it is judged: 1 judges every shown pair (PBM's prior
    #: keeps one unclicked showing near grade 0); raise it when head queries have traffic.
    min_showings: int = 1
    #: Simulated searches generated when the log has no feedback yet.
    searches: int = 3000
    margin: float = 0.0
    activate: bool = True
    seed: int = 1
    progress: bool = True


def judgments_from_log(store: FeedbackStore, min_showings: int) -> dict[str, dict[str, int]]:
    """PBM over every logged page and its engagement → graded (query, entity) pairs."""
    showings = [Showing(query, doc, rank, doc in engaged)
                for query, page, engaged in store.sessions() for rank, doc in enumerate(page, start=1)]
    return grades(PBM().fit(showings), min_showings=min_showings)


def run_training(settings: Settings, searcher: Searcher, options: TrainOptions, say: Say) -> dict[str, Any]:
    """The whole loop; returns the report printed by `es-ltrr train --json`."""
    if settings.cluster_url:
        raise ValueError("es-ltrr train runs on the embedded engine; upload the model it writes with "
                         "`es-ltrr --cluster URL upload-model models/<name>/model.json --activate`")
    data = DataDir(settings.data_dir)
    store = FeedbackStore(data.logs_dir / FILENAME)
    generated = 0
    if options.judgments is not None:
        judged = read_ranklib(options.judgments)
        source = f"judgments file {options.judgments}"
    else:
        if store.counts()["events"] == 0:
            say(f"no feedback logged yet: generating {options.searches} simulated searches with clicks "
                "(the simulator's users) into the log first")
            loop = FeedbackLoop(store, StaticPolicy())
            generated = _generate(searcher, loop, settings, options)
        judged = judgments_from_log(store, options.min_showings)
        source = f"PBM over the feedback log ({store.counts()['impressions']} impressions)"
    say(f"{sum(len(v) for v in judged.values())} judgments over {len(judged)} queries from {source}")
    featureset = default_featureset()
    fused = replace(searcher, policy=StaticPolicy(), ranker=searcher.fallback)
    with tqdm(total=len(judged), desc="logging features", unit="query", disable=not options.progress,
              mininterval=2.0) as bar:
        examples = collect(lambda q: fused.search(SearchRequest(q, k=10)), searcher.engine, featureset,
                           MsearchFeatureLogger(), judged, bar.update)
    name = f"{featureset.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    say(f"training {name} on {sum(e.split == 'train' for e in examples)} queries "
        f"(validation {sum(e.split == 'valid' for e in examples)}, test {sum(e.split == 'test' for e in examples)})")
    model = train(examples, featureset, name, seed=options.seed)
    current_dir = data.active_model()
    current = LtrModel.load(current_dir, featureset) if current_dir else None
    rankers: dict[str, Callable[[QueryExamples], np.ndarray]] = {"none": lambda e: e.fusion,
                                                                  "new": lambda e: model.predict(e.features)}
    if current is not None:
        rankers["current"] = lambda e: current.predict(e.features)
    metrics = evaluate(examples, rankers)
    baseline = metrics["current" if current is not None else "none"]["ndcg10"]
    wins = metrics["new"]["ndcg10"] > baseline + options.margin
    model.save(data.model_dir(name), {"metrics": metrics, "judgments": source, "features": featureset.names,
                                      "generated_searches": generated})
    if wins and options.activate:
        data.activate_model(name)
        say(f"activated {name}: held-out nDCG@10 {metrics['new']['ndcg10']:.4f} > {baseline:.4f} + {options.margin}")
    else:
        why = "--no-activate" if wins else f"not better by the margin {options.margin}"
        say(f"kept {current_dir.name if current_dir else 'fusion'} active ({why}): {name} scored "
            f"{metrics['new']['ndcg10']:.4f} against {baseline:.4f}")
    active = data.active_model()
    return {
        "model": name, "active_model": active.name if active else None, "activated": bool(wins and options.activate),
        "ndcg10_none": metrics["none"]["ndcg10"], "ndcg10_current": metrics.get("current", {}).get("ndcg10"),
        "ndcg10_new": metrics["new"]["ndcg10"], "mrr_none": metrics["none"]["mrr"],
        "mrr_current": metrics.get("current", {}).get("mrr"), "mrr_new": metrics["new"]["mrr"],
        "test_queries": metrics["new"]["queries"], "judged_queries": len(judged), "generated_searches": generated,
        "parity_max_abs_diff": None,
    }


def _generate(searcher: Searcher, loop: FeedbackLoop, settings: Settings, options: TrainOptions) -> int:
    from .simulation.traffic import generate_traffic

    entities = load_catalog(settings.catalog, progress=False)
    generate_traffic(searcher, loop, entities, options.searches, options.seed, options.progress)
    return options.searches
