"""Query embedding on one thread: torch (sentence-transformers, the baseline) against ONNX Runtime.

    python benchmarks/query_embedding.py [--data-dir DIR] [--queries 100] [--seed 7]

Samples generated catalog queries (as `es-ltrr bench` does), embeds them uncached with each
backend in turn, twice (torch, onnx, torch, onnx: both see the machine's load alike; one
backend per block, so neither runs with caches the other just evicted), prints p50/p99, the
cosine of the ONNX vector to the torch one (min/mean) and the overlap of the semantic arm's
top 10 on the index in the data dir — the figures issue 9 item 3 asks for.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.retrieval.arms import ArmInput
from es_ltrr.retrieval.embedding import Encoder
from es_ltrr.retrieval.embedding_onnx import load_onnx_encoder
from es_ltrr.serving.wiring import build_searcher
from es_ltrr.understanding import understand


def timed(encode, text: str) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    vector = encode([text])[0]
    return vector, (time.perf_counter() - start) * 1000


def top10(searcher, query: str, vector: np.ndarray) -> list[str]:
    """The semantic arm's first 10 ids for `vector`, through the engine like a search."""
    inp = ArmInput(query, understand(query, searcher.gazetteer), vector)
    body = searcher.arms["semantic"].render(inp, 10, searcher.flavor)
    return [h["_id"] for h in searcher.engine.msearch([body])[0]["hits"]["hits"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="data dir with a built index (default: the configured one)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    settings = Settings.load(data_dir=args.data_dir)
    searcher = build_searcher(settings, say=lambda m: print(m, file=sys.stderr), auto_index=False)
    queries = sample_queries(load_catalog(settings.catalog), args.queries, args.seed)
    torch_encoder = Encoder(threads=1, backend="torch")
    onnx_encoder = load_onnx_encoder(settings.cache_dir, threads=1)
    for q in queries[:5]:  # first calls allocate
        torch_encoder.encode([q]), onnx_encoder.encode([q])
    backends = {"torch (sentence-transformers)": torch_encoder.encode, "onnx (onnxruntime fp32)": onnx_encoder.encode}
    ms: dict[str, list[float]] = {name: [] for name in backends}
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in backends}
    for _ in range(2):
        for name, encode in backends.items():
            for q in queries:
                vector, elapsed = timed(encode, q)
                ms[name].append(elapsed)
                vectors[name].append(vector)
    cosines, overlaps = [], []
    for q, expected, got in zip(queries, *vectors.values()):
        cosines.append(float(np.dot(expected, got)))
        overlaps.append(len(set(top10(searcher, q, expected)) & set(top10(searcher, q, got))) / 10)
    rows = [[name, len(v), np.percentile(v, 50), np.percentile(v, 99)] for name, v in ms.items()]
    print(f"{len(queries)} queries (seed {args.seed}), one thread, load {os.getloadavg()[0]:.2f}")
    print(tabulate(rows, ["backend", "timed calls", "p50 ms", "p99 ms"], floatfmt=".2f"))
    print(tabulate([[min(cosines), float(np.mean(cosines)), float(np.mean(overlaps)), min(overlaps)]],
                   ["cosine min", "cosine mean", "top-10 overlap mean", "top-10 overlap min"], floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
