"""Catalog embedding throughput: the new path against the old one and bare MiniLM, same run.

    python benchmarks/embedding.py [--sample 5000] [--seed 0]

On a seeded sample of the shipped catalog (in catalog order) it times:

* old path — `description or name`, batches of 64 in catalog order (what indexing did);
* bare MiniLM — `model.encode(texts, batch_size=64)` on the same texts, one call;
* torch path — `embed_catalog` on the short texts (`catalog.texts`) with the torch model,
  into an empty vector cache;
* ONNX path — the same on ONNX Runtime (every core, what `es-ltrr index` runs), into an
  empty vector cache, and the cosine of its vectors to torch's;

then the other first-run stages on the full catalog (load, index, gazetteer), and prints
tokens per text, padding, entities/s and the projected full-catalog time. Other engineers
share the machine: the load (`os.getloadavg`) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tabulate import tabulate

from es_ltrr.catalog import load_catalog
from es_ltrr.catalog.texts import embedding_texts
from es_ltrr.common.settings import Settings
from es_ltrr.retrieval.embedding import CATALOG_BATCH, DIM, Encoder, embed_catalog
from es_ltrr.retrieval.engines.embedded import EmbeddedEngine
from es_ltrr.understanding import Gazetteer


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def tokens(tokenizer, texts: Sequence[str], batch: int, by_length: bool) -> tuple[float, float]:
    """Mean tokens per text, and tokens processed per text once batches are padded."""
    n = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    if by_length:
        n = sorted(n)
    padded = sum(max(n[i : i + batch]) * len(n[i : i + batch]) for i in range(0, len(n), batch))
    return float(np.mean(n)), padded / len(n)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=5000, help="entities embedded per path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"load average before: {load()}   cores: {os.cpu_count()}", file=sys.stderr)
    settings = Settings.load()
    stages: list[tuple[str, int, float]] = []
    entities: list[dict] = []
    stages.append(("catalog load", 0, timed(lambda: entities.extend(load_catalog(settings.catalog)))))
    total = len(entities)
    stages[-1] = ("catalog load", total, stages[-1][2])
    picked = sorted(random.Random(args.seed).sample(range(total), min(args.sample, total)))
    new_all = embedding_texts(entities)
    old = [entities[i].get("description") or entities[i]["name"] for i in picked]
    new = [new_all[i] for i in picked]

    encoder = Encoder(backend="torch")
    model = encoder.model
    onnx_encoder = Encoder.for_settings(settings)
    onnx_encoder.encode(new[:8])  # the ONNX session (and export on a new machine) outside the timing
    import torch

    print(f"torch threads: {torch.get_num_threads()}", file=sys.stderr)
    rows = []
    vectors: list[np.ndarray] = []
    for name, texts, run, batch, by_length in [
        ("old path (descriptions, catalog order, batch 64)", old, lambda: encoder.encode(old, batch_size=64), 64, False),
        ("bare MiniLM model.encode (descriptions, batch 64)", old,
         lambda: model.encode(old, batch_size=64, show_progress_bar=False), 64, True),
        ("bare MiniLM model.encode (short texts, batch 64)", new,
         lambda: model.encode(new, batch_size=64, show_progress_bar=False), 64, True),
        ("torch path embed_catalog (short texts, empty cache)", new, lambda: _new_path(encoder, new), CATALOG_BATCH, True),
        ("ONNX path embed_catalog (short texts, empty cache)", new, lambda: vectors.append(_new_path(onnx_encoder, new)),
         CATALOG_BATCH, True),
    ]:
        mean, padded = tokens(model.tokenizer, texts, batch, by_length)
        seconds = timed(run)
        rate = len(texts) / seconds
        rows.append([name, f"{mean:.1f}", f"{padded:.1f}", len(texts), f"{seconds:.1f}", f"{rate:.0f}", f"{total / rate / 60:.1f}"])
        print(f"  {name}: {rate:.0f} entities/s (load {load()})", file=sys.stderr)
    print(tabulate(rows, headers=["embedding", "tokens/text", "tokens/text padded", "entities", "s", "entities/s",
                                  "full catalog (min)"]))
    reference = encoder.encode(new, batch_size=CATALOG_BATCH)
    print(f"ONNX vs torch vectors: min cosine {float((reference * vectors[0]).sum(1).min()):.6f}")

    fake = np.random.default_rng(args.seed).standard_normal((total, DIM)).astype(np.float32)
    for e, v in zip(entities, fake / np.linalg.norm(fake, axis=1, keepdims=True)):
        e["embedding"] = v
    stages.append(("index (embedded engine)", total, timed(lambda: EmbeddedEngine().index(entities))))
    stages.append(("gazetteer", total, timed(lambda: Gazetteer.from_entities(entities))))
    print()
    print(tabulate([[n, k, f"{s:.1f}"] for n, k, s in stages], headers=["first-run stage (full catalog)", "entities", "s"]))
    print(f"\nload average after: {load()}")
    return 0


def _new_path(encoder: Encoder, texts: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as cache:
        return embed_catalog(encoder, texts, Path(cache))


if __name__ == "__main__":
    sys.exit(main())
