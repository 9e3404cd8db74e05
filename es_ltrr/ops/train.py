"""`es-ltrr train`: feedback → labelled examples → XGBoost → a gate on judged queries → activate.

The steps live in their rooms (`ranking.ltr.training`, `ranking.ltr.clickmodel`,
`ranking.ltr.upload`, `feedback`, `evaluation`); this module wires them for one command:

1. **Examples**, by default from the pages users saw and what they did with them (unbiased
   LambdaMART on clicks in display order); or from graded pairs (`--labels pbm`: the
   position-based click model's grades of the log; or a RankLib `--judgments` file). With
   no feedback logged yet, simulated users generate searches first — into a log of their own
   (`logs/simulated.sqlite3`), so simulated traffic never teaches the serving policy unless
   asked (`--into-serving`).
2. **Training** (`ranking/ltr/training.py`).
3. **The gate**, on judged queries — the hand-labelled set (where it fits the catalog) and
   simulated users with held-out targets and a seed of their own — not on the click pages
   fusion served (which favour fusion: only what it showed was judged). Fusion, the active
   model and the new one each rank every arm's candidates. The new model is activated only
   when its pooled nDCG@10 beats the best of the others by `--margin` *and* it is no worse
   than fusion on any judged set.

On a cluster, features are logged as serving logs them there (the plugin's `ltr_log`), and
a model the gate activates is uploaded to the LTR plugin with `upload-model`'s parity check
first (searches then rescore with `sltr`); one it does not activate (it lost, or
`--no-activate`) stays in the data dir, uploaded by `es-ltrr upload-model` when wanted — so
models no longer pile up on the node.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm import tqdm

from ..catalog import load_catalog
from ..common.analysis import q2e_key
from ..common.datadir import DataDir
from ..common.extras import MissingExtra
from ..common.settings import Settings
from ..evaluation.report import evaluate, judged_sets
from ..evaluation.systems import System
from ..feedback import FeedbackLoop, FeedbackStore
from ..feedback.events import DEFAULT_WEIGHTS
from ..feedback.ubi import UbiMirror, ubi_sessions
from ..ranking import Ranker, XGBoostRanker
from ..ranking.ltr import LtrModel, default_featureset
from ..ranking.ltr.clickmodel import judgments_from_sessions
from ..ranking.ltr.feature_log import FeatureLogger, feature_logger
from ..ranking.ltr.featureset import FeatureSet
from ..ranking.ltr.plugin import LtrPlugin
from ..ranking.ltr.training import (
    LoggedPage,
    MemoryAt,
    QueryExamples,
    collect_clicks,
    collect_judged,
    read_ranklib,
    report_plots,
    train,
)
from ..ranking.ltr.upload import ParityCase, upload_model
from ..retrieval.policy import StaticPolicy
from ..retrieval.policy.static import default_allocation
from ..search.pipeline import Searcher
from ..search.request import SearchRequest

Say = Callable[[str], None]


@dataclass
class TrainOptions:
    judgments: Path | None = None
    #: Where feedback comes from when no judgments file is given: "log" (the data dir's
    #: feedback log) or "ubi" (the cluster's UBI indices, from any UBI producer).
    source: str = "log"
    #: "clicks" (pages in display order, unbiased LambdaMART) or "pbm" (click-model grades).
    labels: str = "clicks"
    #: With `pbm`: showings of a (query, entity) before it is judged (1 judges every shown pair).
    min_showings: int = 1
    #: Simulated searches generated when the log has no feedback yet.
    searches: int = 3000
    #: Generated searches go into the serving log (the serving policy then learns from them).
    into_serving: bool = False
    margin: float = 0.0
    activate: bool = True
    seed: int = 1
    #: The gate's simulated judged queries and their seed (not evaluate's default seed 2:
    #: the queries a model is chosen on are not the ones it is reported on).
    gate_queries: int = 500
    gate_seed: int = 11
    progress: bool = True


def run_training(settings: Settings, searcher: Searcher, options: TrainOptions, say: Say,
                 featureset: FeatureSet | None = None) -> dict[str, Any]:
    """The whole loop; returns the report printed by `es-ltrr train --json`. `featureset`
    defaults to the shipped one (the one `es-ltrr apply` stores on a cluster)."""
    data = DataDir(settings.data_dir)
    plugin = LtrPlugin(searcher.engine) if settings.cluster_url else None  # type: ignore[arg-type]
    featureset = featureset or default_featureset()
    logger = feature_logger(plugin, featureset)
    examples, labels, source, generated = training_examples(settings, searcher, options, plugin, featureset, logger,
                                                            say)
    name = f"{featureset.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    say(f"training {name} on {sum(e.split == 'train' for e in examples)} groups from {source} "
        f"(validation {sum(e.split == 'valid' for e in examples)}; labels: {labels})")
    model = train(examples, featureset, name, labels, seed=options.seed)
    current_dir = data.active_model()
    rankers: dict[str, Ranker] = {"fusion": searcher.fallback}
    if current_dir is not None:
        rankers["current"] = XGBoostRanker(LtrModel.load(current_dir, featureset), logger)
    rankers["new"] = XGBoostRanker(model, logger)
    gate = judge(searcher, load_catalog(settings.catalog, progress=False), rankers, options, say)
    wins, why = _verdict(gate, options.margin)
    details = {"gate": gate, "labels": labels, "examples": source, "features": featureset.names,
               "generated_searches": generated}
    parity = None
    fused = replace(searcher, policy=StaticPolicy(), ranker=searcher.fallback, challenger=None)
    if plugin is not None and wins and options.activate:  # on a cluster, only the model that will serve
        cases = [fused.search(SearchRequest(e.query, k=10)) for e in examples if e.split == "valid"][:5]
        parity = _upload(plugin, model, featureset, data, cases, details)
        say(f"uploaded {name} to the cluster's LTR plugin: sltr = XGBoost within {parity:.2g}")
    else:
        directory = model.save(data.model_dir(name), details)
        if plugin is not None:
            say(f"{name} is saved in {directory}, not uploaded to the cluster (it is not activated); to serve "
                f"it there: `es-ltrr --cluster URL upload-model {directory / 'model.json'} --activate`")
    plots = _plots(model, gate["by_intent"], data.model_dir(name) / "report", say)
    pooled = {system: m["ndcg10"] for system, m in gate["systems"].items()}
    if wins and options.activate:
        data.activate_model(name)
        say(f"activated {name}: {why}")
    else:
        say(f"kept {current_dir.name if current_dir else 'fusion'} active "
            f"({'--no-activate' if wins else why}): {name} scored nDCG@10 {pooled['new']:.4f}")
    active = data.active_model()
    metrics = gate["systems"]
    return {
        "model": name, "active_model": active.name if active else None, "activated": bool(wins and options.activate),
        "labels": labels, "ndcg10_none": metrics["fusion"]["ndcg10"],
        "ndcg10_current": metrics.get("current", {}).get("ndcg10"), "ndcg10_new": metrics["new"]["ndcg10"],
        "mrr_none": metrics["fusion"]["mrr"], "mrr_current": metrics.get("current", {}).get("mrr"),
        "mrr_new": metrics["new"]["mrr"], "test_queries": gate["queries"], "judged_queries": len(examples),
        "generated_searches": generated, "parity_max_abs_diff": parity, "gate": gate["sets"],
        "by_intent": gate["by_intent"], "plots": [str(p) for p in plots],
    }


def training_examples(settings: Settings, searcher: Searcher, options: TrainOptions, plugin: LtrPlugin | None,
                      featureset: FeatureSet, logger: FeatureLogger,
                      say: Say) -> tuple[list[QueryExamples], str, str, int]:
    """Training groups, the label kind, where they came from, and how many searches were generated."""
    fused = replace(searcher, policy=StaticPolicy(), ranker=searcher.fallback, challenger=None)

    def every_arm(query: str) -> Any:
        return fused.search(SearchRequest(query, k=10))

    def as_served(page: LoggedPage) -> Any:
        served = replace(fused, policy=StaticPolicy(dict(page.allocations)), new_id=lambda: page.impression_id)
        return served.search(SearchRequest(page.query, k=max(1, len(page.page))))

    def bar(total: int, what: str) -> tqdm:
        return tqdm(total=total, desc=f"logging features ({what})", unit="group", disable=not options.progress,
                    mininterval=2.0)

    if options.judgments is not None:
        judged = read_ranklib(options.judgments)
        with bar(len(judged), "judged queries") as progress:
            examples = collect_judged(every_arm, searcher.engine, featureset, logger, judged, 0.0, progress.update)
        return examples, "pbm", f"the judgments file {options.judgments}", 0
    if options.source == "ubi":
        if plugin is None:
            raise ValueError("--source ubi reads the cluster's UBI indices: pass --cluster URL")
        sessions = ubi_sessions(searcher.engine, settings.action_weights or DEFAULT_WEIGHTS)
        pages = [LoggedPage(query, f"ubi-{i}", default_allocation(), page, {e: 1.0 for e in engaged})
                 for i, (query, page, engaged) in enumerate(sessions)]
        where = f"the cluster's UBI indices ({len(sessions)} queries)"
        return (*_from_feedback(pages, sessions, options, fused, every_arm, as_served, featureset, logger, bar), where, 0)
    store, generated = _log(settings, searcher, options, plugin, say)
    pages = [LoggedPage(imp.query, imp.id, dict(imp.decision.allocations), imp.page, weights, imp.served_at,
                        imp.arm_results)
             for imp, weights in store.engaged_impressions()]
    where = f"{store.path.name} ({len(pages)} impressions)"

    def memory_at(page: LoggedPage, ids: Sequence[str]) -> Mapping[str, float | None]:
        key = q2e_key(page.query)
        return store.memory_at(key, ids, page.served_at) if key and page.served_at is not None else {}

    return (*_from_feedback(pages, list(store.sessions()), options, fused, every_arm, as_served, featureset, logger,
                            bar, memory_at), where, generated)


def _from_feedback(pages: list[LoggedPage], sessions: list, options: TrainOptions, fused: Searcher,
                   every_arm: Callable, as_served: Callable, featureset: FeatureSet, logger: FeatureLogger,
                   bar: Callable, memory_at: MemoryAt | None = None) -> tuple[list[QueryExamples], str]:
    if options.labels == "clicks":
        with bar(len(pages), "pages") as progress:
            return collect_clicks(pages, as_served, fused.engine, featureset, logger, progress.update,
                                  memory_at), "clicks"
    judged = judgments_from_sessions(sessions, options.min_showings)
    with bar(len(judged), "judged queries") as progress:
        # a pair nobody was shown is unknown, not bad: unjudged candidates are left out
        return collect_judged(every_arm, fused.engine, featureset, logger, judged, None, progress.update), "pbm"


def _log(settings: Settings, searcher: Searcher, options: TrainOptions, plugin: LtrPlugin | None,
         say: Say) -> tuple[FeedbackStore, int]:
    """The feedback log to learn from; when it holds no feedback yet, simulated users fill
    one first — their own (`logs/simulated.sqlite3`) unless `into_serving`."""
    data = DataDir(settings.data_dir)
    store = FeedbackStore(data.feedback_log)
    if store.counts()["events"] > 0:
        return store, 0
    if not options.into_serving:
        store.close()
        store = FeedbackStore(data.simulated_log)
        if store.counts()["events"] > 0:
            say(f"no feedback in {data.feedback_log.name}: training on the simulated users' log {data.simulated_log}")
            return store, 0
    target = "the serving log (--into-serving)" if options.into_serving else data.simulated_log
    say(f"no feedback logged yet: {options.searches} simulated searches with clicks (the simulator's users) "
        f"into {target} first")
    # into the serving log on a cluster, the traffic is mirrored into its UBI indices, as served traffic is
    mirror = UbiMirror(searcher.engine) if plugin is not None and options.into_serving else None
    loop = FeedbackLoop(store, StaticPolicy(), mirror=mirror)
    from ..evaluation.simulation.traffic import generate_traffic

    entities = load_catalog(settings.catalog, progress=False)
    generate_traffic(searcher, loop, entities, options.searches, options.seed, options.progress)
    loop.sync_cluster()
    return store, options.searches


def judge(searcher: Searcher, entities: list[dict], rankers: dict[str, Ranker], options: TrainOptions,
          say: Say) -> dict[str, Any]:
    """Each ranker over every arm's candidates of the judged queries: nDCG@10 and MRR per
    judged set and pooled, and per intent (`evaluation.report.evaluate`)."""
    try:
        sets = judged_sets(entities, "both", options.gate_queries, options.gate_seed, say)
    except ValueError:  # the hand set does not fit this catalog
        sets = judged_sets(entities, "simulated", options.gate_queries, options.gate_seed, say)

    def system(name: str, ranker: Ranker) -> System:
        ranked = replace(searcher, policy=StaticPolicy(), ranker=ranker, challenger=None)
        return System(name, lambda text: ranked.search(SearchRequest(text, k=10)))

    progress = (lambda name, n: tqdm(total=n, desc=f"gate: {name:>7}", unit="query", mininterval=2.0)) \
        if options.progress else None
    document = evaluate([system(n, r) for n, r in rankers.items()], sets, progress)
    return {"queries": document["queries"], "systems": document["systems"], "by_intent": document["by_intent"],
            "sets": {name: {s: {k: m[k] for k in ("ndcg10", "mrr")} for s, m in report["systems"].items()}
                     for name, report in document["sets"].items()}}


def _verdict(gate: dict[str, Any], margin: float) -> tuple[bool, str]:
    """Activate when the new model's pooled nDCG@10 beats the best other ranker's by `margin`
    and no judged set ranks worse than with fusion (a negative margin is a loss tolerated
    there too); the reason either way."""
    pooled = {name: m["ndcg10"] for name, m in gate["systems"].items()}
    best = max((name for name in pooled if name != "new"), key=pooled.get)
    worse = [f"{name} {s['new']['ndcg10']:.4f} < fusion {s['fusion']['ndcg10']:.4f}"
             for name, s in gate["sets"].items() if s["new"]["ndcg10"] < s["fusion"]["ndcg10"] + min(margin, 0.0)]
    if pooled["new"] <= pooled[best] + margin:
        return False, f"judged nDCG@10 {pooled['new']:.4f} not above {best}'s {pooled[best]:.4f} + {margin}"
    if worse:
        return False, f"worse than fusion on a judged set: {'; '.join(worse)}"
    return True, f"judged nDCG@10 {pooled['new']:.4f} > {best}'s {pooled[best]:.4f} + {margin}, no set below fusion"


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
        cases = [ParityCase.of(r.request.query, r.understanding, r.candidates, r.vector, plugin.engine.flavor,
                               plugin.engine.capabilities.memory) for r in results]
        done = upload_model(plugin, model_file, featureset, cases, data.model_dir, model.name)
    metrics_file = data.model_dir(done.name) / "metrics.json"
    merged = {**json.loads(metrics_file.read_text()), **details} if metrics_file.is_file() else details
    metrics_file.write_text(json.dumps(merged, indent=2))
    return done.parity_max_abs_diff
