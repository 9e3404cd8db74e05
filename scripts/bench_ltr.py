#!/usr/bin/env python3
"""Latency of the LTR plugin's runtime path vs the sidecar's, in one run on one cluster:

* feature logging of a query's candidate union: ONE `sltr` + `ltr_log` request vs the
  per-feature `_msearch` (one body per feature);
* rescoring the union: `sltr` inside the cluster vs local XGBoost (features logged with
  `ltr_log`, then predicted in the sidecar), and the local prediction alone.

    python scripts/bench_ltr.py --cluster URL --index ALIAS --data-dir DIR [--catalog FILE] [--queries 60]

The alias must be indexed (`es-ltrr apply` + `es-ltrr index` with the same settings) and the
node must store the featureset. The model is a throwaway one trained here on word-containment
grades of features logged by the plugin and uploaded with `es_ltrr.ranking.ltr.upload` (parity checked);
latency does not depend on what it learned. Queries are sampled (seeded) from the catalog.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import xgboost as xgb
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.analysis import words
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.ranking import PluginRanker, XGBoostRanker
from es_ltrr.ranking.ltr import LtrModel, MsearchFeatureLogger, PluginFeatureLogger, default_featureset
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.ranking.ltr.upload import ParityCase, upload_model
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.wiring import build_searcher


def _grade(query: str, source: dict) -> int:
    q, name = set(words(query)), set(words(source.get("name") or ""))
    return 2 if q and q <= name else int(bool(q & name))


def _train(searcher, fs, queries: list[str], path: Path) -> Path:
    xs, ys, groups = [], [], []
    for query in queries:
        result = searcher.search(parse_search_request({"query": query}))
        case = _case(searcher.engine, query, result.understanding, result.candidates)
        xs.append(PluginFeatureLogger().log(searcher.engine, fs, case.params, case.ids))
        ys.append([_grade(query, c.source) for c in result.candidates])
        groups.append(len(case.ids))
    data = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    data.set_group(groups)
    xgb.train({"objective": "rank:ndcg", "max_depth": 4, "eta": 0.3, "seed": 1}, data, 50).save_model(str(path))
    return path


def _case(engine, query: str, understanding, candidates) -> ParityCase:
    """The params of a search for this node (no vector: the bench runs without embedding)."""
    return ParityCase.of(query, understanding, candidates, None, engine.flavor, engine.capabilities.memory)


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--catalog", type=Path)
    ap.add_argument("--flavor", choices=["opensearch", "elasticsearch"])
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--depth", type=float, default=1.5, help="Arm depths × this (unions of ~150 on a catalog slice).")
    ap.add_argument("--min-union", type=int, default=120, help="Measure only queries with at least this many candidates.")
    args = ap.parse_args()

    settings = Settings.load(env={}, cluster_url=args.cluster, index=args.index, data_dir=args.data_dir,
                             flavor=args.flavor, embed=False, **({"catalog": args.catalog} if args.catalog else {}),
                             allocation={name: round(arm.default_depth * args.depth) for name, arm in ARMS.items()})
    searcher = build_searcher(settings, say=lambda _: None)
    fs, engine = default_featureset(), searcher.engine
    queries = [q[:200] for q in sample_queries(load_catalog(settings.catalog), 4 * args.queries, args.seed)]
    train, measured = queries[:20], queries[20:]
    LtrPlugin(engine).delete_model("es-ltrr-bench")  # a previous run's
    with tempfile.TemporaryDirectory() as tmp:
        path = _train(searcher, fs, train, Path(tmp) / "bench.json")
        cases = [_case(engine, q, r.understanding, r.candidates) for q in train[:5]
                 for r in [searcher.search(parse_search_request({"query": q}))]]
        done = upload_model(LtrPlugin(engine), path, fs, cases, lambda name: Path(tmp) / name, name="es-ltrr-bench")
        model = LtrModel.load(done.directory, fs)
    sltr, local = PluginRanker(done.name), XGBoostRanker(model, PluginFeatureLogger())
    timings: dict[str, list[float]] = {k: [] for k in ("ltr_log", "msearch", "sltr", "local", "predict")}
    rng, sizes = random.Random(args.seed), []
    for query in measured:
        result = searcher.search(parse_search_request({"query": query}))
        cands, u = list(result.candidates), result.understanding
        if len(cands) < args.min_union or len(sizes) == args.queries:
            continue
        case = _case(engine, query, u, cands)
        sizes.append(len(cands))
        features = PluginFeatureLogger().log(engine, fs, case.params, case.ids)
        paths = {
            "ltr_log": lambda: PluginFeatureLogger().log(engine, fs, case.params, case.ids),
            "msearch": lambda: MsearchFeatureLogger().log(engine, fs, case.params, case.ids),
            "sltr": lambda: sltr.score(engine, query, u, cands),
            "local": lambda: local.score(engine, query, u, cands),
            "predict": lambda: model.predict(features),
        }
        for _ in range(3):  # interleaved in random order: a busy machine slows all paths alike
            for key in rng.sample(list(paths), len(paths)):
                timings[key].append(_ms(paths[key]))
    LtrPlugin(engine).delete_model(done.name)
    labels = {
        "ltr_log": "feature logging: sltr + ltr_log (1 request)",
        "msearch": f"feature logging: msearch ({len(fs.names)} bodies)",
        "sltr": "rescoring: sltr in the cluster (1 request)",
        "local": "rescoring: local XGBoost (ltr_log + predict)",
        "predict": "  of which XGBoost predict in the sidecar",
    }
    rows = [[labels[k], np.percentile(v, 50), np.percentile(v, 99)] for k, v in timings.items()]
    print(f"{engine.flavor} {args.cluster}: {len(sizes)} queries, candidate union mean {np.mean(sizes):.0f} "
          f"(min {min(sizes)}, max {max(sizes)}), model {done.name}: parity {done.parity_max_abs_diff:.2g}")
    print(tabulate(rows, headers=["path", "p50 ms", "p99 ms"], floatfmt=".2f", tablefmt="github"))


if __name__ == "__main__":
    main()
