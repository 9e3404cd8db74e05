"""The semantic arm on the embedded engine: approximate (HNSW) against exact kNN.

    python benchmarks/ann_recall.py [--data-dir DIR] [--queries 200] [--seed 7]

Renders the semantic arm's body for sampled catalog queries (as `es-ltrr bench` samples them),
runs it once on the saved index's graph and once exactly (the same snapshot without the graph)
and prints recall@k of the arm's hits (k = its depth, 50) and both latencies, single thread.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.retrieval.engines.embedded import EmbeddedEngine
from es_ltrr.retrieval.engines.embedded.fields import Vectors
from es_ltrr.serving.wiring import build_searcher


def exact_twin(engine: EmbeddedEngine) -> EmbeddedEngine:
    """The same snapshot with every vector field's graph dropped: kNN is exact."""
    twin = copy.copy(engine)
    ix = twin._ix = copy.copy(engine._ix)
    ix.fields = {name: dataclasses.replace(part, ann=None) if isinstance(part, Vectors) else part
                 for name, part in ix.fields.items()}
    return twin


def timed_ids(engine: EmbeddedEngine, body: dict) -> tuple[list[str], float]:
    start = time.perf_counter()
    response = engine.search(body)
    return [h["_id"] for h in response["hits"]["hits"]], (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="data dir (default: the configured one)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    settings = Settings.load(data_dir=args.data_dir)
    searcher = build_searcher(settings, say=lambda m: print(m, file=sys.stderr), auto_index=False)
    if not isinstance(searcher.engine, EmbeddedEngine) or searcher.encoder is None:
        print("needs the embedded engine and the embedding extra", file=sys.stderr)
        return 2
    approx, exact = searcher.engine, exact_twin(searcher.engine)
    if approx._ix.fields[approx.schema.vector_field].ann is None:
        print("the index has no kNN graph (usearch missing, or a small corpus)", file=sys.stderr)
        return 2
    queries = sample_queries(load_catalog(settings.catalog), args.queries, args.seed)
    # embed first: right after a query embedding, torch's spinning threads slow the next search
    bodies = [searcher.arm_bodies(query)["semantic"] for query in queries]
    recalls, t_approx, t_exact = [], [], []
    for body in bodies:
        found, ms_a = timed_ids(approx, body)
        truth, ms_e = timed_ids(exact, body)
        recalls.append(len(set(found) & set(truth)) / max(1, len(truth)))
        t_approx.append(ms_a), t_exact.append(ms_e)
    rows = [["exact", "1.000", np.percentile(t_exact, 50), np.percentile(t_exact, 99)],
            ["hnsw (usearch)", f"{np.mean(recalls):.3f}", np.percentile(t_approx, 50),
             np.percentile(t_approx, 99)]]
    depth = body["size"]
    print(tabulate(rows, headers=["semantic arm", f"recall@{depth}", "p50 ms", "p99 ms"],
                   floatfmt=".2f"))
    print(f"({len(recalls)} queries; min recall {min(recalls):.2f}; "
          f"queries with recall < 0.9: {sum(r < 0.9 for r in recalls)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
