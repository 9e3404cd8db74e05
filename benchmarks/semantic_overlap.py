"""The semantic arm's top-10 overlap between two built indexes (e.g. other catalog vectors).

    python benchmarks/semantic_overlap.py BASELINE_DATA_DIR NEW_DATA_DIR [--queries 100] [--seed 0]

Runs the semantic arm alone (`StaticPolicy({"semantic": 10})`) for the same sampled catalog
queries (`es_ltrr.ops.bench.latency.sample_queries`) against both data dirs and prints the mean share of
the baseline's top 10 that the new index also returns, with the lowest-overlap queries.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.search.pipeline import Searcher
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.wiring import build_searcher

K = 10


def semantic_top(searcher: Searcher, query: str) -> list[str]:
    result = searcher.search(parse_search_request({"query": query, "k": K}))
    arm = result.arm_result("semantic")
    return list(arm.ids[:K]) if arm else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    searchers = []
    for data_dir in (args.baseline, args.new):
        searcher = build_searcher(Settings.load(data_dir=data_dir), say=lambda m: print(m, file=sys.stderr), auto_index=False)
        searchers.append(replace(searcher, policy=StaticPolicy({"semantic": K})))
    queries = sample_queries(load_catalog(Settings.load().catalog), args.queries, args.seed)
    overlaps = []
    for query in queries:
        old, new = (semantic_top(s, query) for s in searchers)
        overlaps.append((len(set(old) & set(new)) / max(1, len(old)), query))
    mean = sum(o for o, _ in overlaps) / len(overlaps)
    print(tabulate(sorted(overlaps)[:10], headers=["top-10 overlap", "lowest queries"], floatfmt=".1f"))
    print(f"\nmean semantic top-{K} overlap over {len(queries)} queries: {mean:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
