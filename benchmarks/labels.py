"""Which labels teach the ranker best: clicks in display order (unbiased LambdaMART) against a
click model's grades — measured where it matters, on judged queries, against fusion.

From one data dir's feedback log (after a learning period: `es-ltrr serve` + `es-ltrr
simulate --http`), every variant is trained on the same log and then ranks every arm's
candidates of the judged queries (the hand set and simulated users with held-out targets, as
`es-ltrr evaluate` builds them), beside reciprocal-rank fusion:

    python benchmarks/labels.py --data-dir D [--queries 500] [--seeds 2,3] [--json]

Variants: `clicks` (rank:ndcg, lambdarank_unbiased: the default of `es-ltrr train`),
`clicks-pairwise` (rank:pairwise, unbiased), `clicks-biased` (rank:ndcg without the position
correction), `pbm` (PBM-EM grades, unjudged candidates left out: the fixed click model),
`pbm-zeros` (PBM grades, unjudged candidates labelled 0: what `train` did before).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.evaluation.report import evaluate, judged_sets
from es_ltrr.evaluation.systems import System
from es_ltrr.feedback import FeedbackStore
from es_ltrr.ops.train import TrainOptions, training_examples
from es_ltrr.ranking import XGBoostRanker
from es_ltrr.ranking.ltr import default_featureset, feature_logger
from es_ltrr.ranking.ltr.clickmodel import judgments_from_sessions
from es_ltrr.ranking.ltr.training import collect_judged, train
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.search.request import SearchRequest
from es_ltrr.serving.wiring import build_searcher

VARIANTS = {
    "clicks": ("clicks", {}),
    "clicks-pairwise": ("clicks", {"objective": "rank:pairwise", "lambdarank_pair_method": "topk",
                                   "lambdarank_num_pair_per_sample": 10}),
    "clicks-biased": ("clicks", {"lambdarank_unbiased": False}),
    "pbm": ("pbm", {}),
    "pbm-zeros": ("pbm-zeros", {}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=500, help="simulated judged queries per seed")
    parser.add_argument("--seeds", default="2,3", help="seeds of the simulated judged queries (2 is evaluate's)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings.load(data_dir=args.data_dir)
    searcher = build_searcher(settings, say=lambda m: print(m, file=sys.stderr))
    fs = default_featureset()
    logger = feature_logger(None, fs)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    models = {}
    examples_by_labels = {}
    for name in args.variants.split(","):
        labels, overrides = VARIANTS[name]
        if labels not in examples_by_labels:
            examples_by_labels[labels] = _examples(settings, searcher, labels, fs, logger, say)
        examples = examples_by_labels[labels]
        say(f"{name}: training on {len(examples)} groups")
        models[name] = train(examples, fs, name, "clicks" if labels == "clicks" else "pbm", overrides=overrides)
    entities = load_catalog(settings.catalog, progress=False)
    rankers = {"rrf_all_arms": searcher.fallback, **{n: XGBoostRanker(m, logger) for n, m in models.items()}}
    systems = [System(n, _search(searcher, r)) for n, r in rankers.items()]
    report = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        sets = judged_sets(entities, "both" if seed == int(args.seeds.split(",")[0]) else "simulated", args.queries,
                           seed, say)
        document = evaluate(systems, sets)
        for set_name, measured in document["sets"].items():
            key = set_name if set_name == "hand" else f"simulated (seed {seed})"
            report[key] = {n: round(m["ndcg10"], 4) for n, m in measured["systems"].items()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        names = list(rankers)
        rows = [[key, *(f"{v[n]:.3f} ({v[n] / v['rrf_all_arms']:.2f}×)" if n != "rrf_all_arms" else f"{v[n]:.3f}"
                        for n in names)] for key, v in report.items()]
        print(tabulate(rows, headers=["nDCG@10 on", *names]))
    return 0


def _examples(settings, searcher, labels, fs, logger, say):
    if labels != "pbm-zeros":
        options = TrainOptions(labels=labels, progress=True)
        return training_examples(settings, searcher, options, None, fs, logger, say)[0]
    store = FeedbackStore(settings.data_dir / "logs" / "feedback.sqlite3")
    judged = judgments_from_sessions(list(store.sessions()), 1)
    fused = replace(searcher, policy=StaticPolicy(), ranker=searcher.fallback, challenger=None)
    return collect_judged(lambda q: fused.search(SearchRequest(q, k=10)), searcher.engine, fs, logger, judged, 0.0)


def _search(searcher, ranker):
    ranked = replace(searcher, policy=StaticPolicy(), ranker=ranker, challenger=None)
    return lambda text: ranked.search(SearchRequest(text, k=10))


if __name__ == "__main__":
    sys.exit(main())
