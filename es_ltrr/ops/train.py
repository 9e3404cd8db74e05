"""`es-ltrr train`: feedback log → click-model judgments → features → XGBoost → gate → activate.

The steps live in their rooms (`ltr.clickmodel`, `ltr.training`, `ltr.upload`, `feedback`,
`simulation`); this module wires them for one command. On a cluster, features are logged
as serving logs them there (the plugin's `ltr_log`), and the model is uploaded to the LTR
plugin with the parity check of `es-ltrr upload-model` before the gate decides activation
(searches then rescore with `sltr`).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from ..catalog import load_catalog
from ..common.datadir import DataDir
from ..common.extras import MissingExtra
from ..common.settings import Settings
from ..feedback import FeedbackLoop, FeedbackStore
from ..feedback.events import DEFAULT_WEIGHTS
from ..feedback.ubi import UbiMirror, ubi_sessions
from ..ranking.ltr import LtrModel, default_featureset
from ..ranking.ltr.clickmodel import judgments_from_sessions
from ..ranking.ltr.feature_log import feature_logger
from ..ranking.ltr.featureset import FeatureSet
from ..ranking.ltr.plugin import LtrPlugin
from ..ranking.ltr.training import (
    QueryExamples,
    collect,
    evaluate,
    evaluate_by_intent,
    read_ranklib,
    report_plots,
    train,
)
from ..ranking.ltr.upload import ParityCase, upload_model
from ..retrieval.policy import StaticPolicy
from ..search.pipeline import Searcher
from ..search.request import SearchRequest

Say = Callable[[str], None]


@dataclass
class TrainOptions:
    judgments: Path | None = None
    #: Where sessions come from when no judgments file is given: "log" (the data dir's
    #: feedback log) or "ubi" (the cluster's UBI indices, from any UBI producer).
    source: str = "log"
    #: Showings of a (query, entity) before it is judged: 1 judges every shown pair (PBM's prior
    #: keeps one unclicked showing near grade 0); raise it when head queries have traffic.
    min_showings: int = 1
    #: Simulated searches generated when the log has no feedback yet.
    searches: int = 3000
    margin: float = 0.0
    activate: bool = True
    seed: int = 1
    progress: bool = True


def run_training(settings: Settings, searcher: Searcher, options: TrainOptions, say: Say,
                 featureset: FeatureSet | None = None) -> dict[str, Any]:
    """The whole loop; returns the report printed by `es-ltrr train --json`. `featureset`
    defaults to the shipped one (the one `es-ltrr apply` stores on a cluster)."""
    data = DataDir(settings.data_dir)
    plugin = LtrPlugin(searcher.engine) if settings.cluster_url else None  # type: ignore[arg-type]
    store = FeedbackStore(data.feedback_log)
    generated = 0
    if options.judgments is not None:
        judged = read_ranklib(options.judgments)
        source = f"judgments file {options.judgments}"
    elif options.source == "ubi":
        if plugin is None:
            raise ValueError("--source ubi reads the cluster's UBI indices: pass --cluster URL")
        sessions = ubi_sessions(searcher.engine, settings.action_weights or DEFAULT_WEIGHTS)
        judged = judgments_from_sessions(sessions, options.min_showings)
        source = f"PBM over the cluster's UBI indices ({len(sessions)} queries)"
    else:
        if store.counts()["events"] == 0:
            say(f"no feedback logged yet: generating {options.searches} simulated searches with clicks "
                "(the simulator's users) into the log first")
            # on a cluster the traffic is mirrored into its UBI indices too, as served traffic is
            loop = FeedbackLoop(store, StaticPolicy(), mirror=UbiMirror(searcher.engine) if plugin else None)
            generated = _generate(searcher, loop, settings, options)
            loop.sync_cluster()
        judged = judgments_from_sessions(store.sessions(), options.min_showings)
        source = f"PBM over the feedback log ({store.counts()['impressions']} impressions)"
    say(f"{sum(len(v) for v in judged.values())} judgments over {len(judged)} queries from {source}")
    featureset = featureset or default_featureset()
    fused = replace(searcher, policy=StaticPolicy(), ranker=searcher.fallback)
    with tqdm(total=len(judged), desc="logging features", unit="query", disable=not options.progress,
              mininterval=2.0) as bar:
        examples = collect(lambda q: fused.search(SearchRequest(q, k=10)), searcher.engine, featureset,
                           feature_logger(plugin, featureset), judged, bar.update)
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
    by_intent = evaluate_by_intent(examples, rankers)
    baseline = metrics["current" if current is not None else "none"]["ndcg10"]
    wins = metrics["new"]["ndcg10"] > baseline + options.margin
    details = {"metrics": metrics, "metrics_by_intent": by_intent, "judgments": source, "features": featureset.names,
               "generated_searches": generated}
    parity = None
    if plugin is None:
        model.save(data.model_dir(name), details)
    else:
        parity = _upload(plugin, model, featureset, data, [fused.search(SearchRequest(e.query, k=10))
                                                           for e in examples if e.split == "test"][:5], details)
        say(f"uploaded {name} to the cluster's LTR plugin: sltr = XGBoost within {parity:.2g}")
    plots = _plots(model, by_intent, data.model_dir(name) / "report", say)
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
        "parity_max_abs_diff": parity, "by_intent": by_intent, "plots": [str(p) for p in plots],
    }


def _plots(model: LtrModel, by_intent: dict, out: Path, say: Say) -> list[Path]:
    try:
        paths = report_plots(model, by_intent, out)
    except MissingExtra as exc:  # matplotlib is optional (the simulate extra)
        say(f"no report plots: {exc}")
        return []
    say(f"report plots in {out}")
    return paths


def _upload(plugin: LtrPlugin, model: LtrModel, featureset: Any, data: DataDir, results: list, details: dict) -> float:
    """Upload under the model's name with the parity check; keep the training report beside
    the upload's metrics in models/<name>/metrics.json."""
    with tempfile.TemporaryDirectory() as tmp:
        model_file = model.save(Path(tmp) / model.name) / "model.json"
        cases = [ParityCase.of(r.request.query, r.understanding, r.candidates, r.vector, plugin.engine.flavor)
                 for r in results]
        done = upload_model(plugin, model_file, featureset, cases, data.model_dir, model.name)
    metrics_file = data.model_dir(done.name) / "metrics.json"
    merged = {**json.loads(metrics_file.read_text()), **details} if metrics_file.is_file() else details
    metrics_file.write_text(json.dumps(merged, indent=2))
    return done.parity_max_abs_diff


def _generate(searcher: Searcher, loop: FeedbackLoop, settings: Settings, options: TrainOptions) -> int:
    from ..evaluation.simulation.traffic import generate_traffic

    entities = load_catalog(settings.catalog, progress=False)
    generate_traffic(searcher, loop, entities, options.searches, options.seed, options.progress)
    return options.searches
