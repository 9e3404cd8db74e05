"""Approximate kNN for a dense-vector field: an HNSW graph from `usearch` (the `ann` extra).

Exact brute-force cosine costs a full pass over the vectors per query (62k × 384 floats);
the graph visits a few thousand. Without usearch, or below `MIN_DOCS`, search stays exact.

Only *which* neighbours are found is approximate: their scores are recomputed exactly from
the float32 unit vectors, so `(1 + cos) / 2` is the same as the exact path's.

A knn `filter` pre-filters (the DSL's semantics). The graph has no filter of its own, so a
filtered search asks it for `k` × (present / allowed) × `OVERSAMPLE` neighbours and keeps the
allowed ones; when that would exceed `MAX_FETCH`, or fewer than `k` survive, it computes the
exact top `k` over the allowed rows instead (a selective filter leaves few rows: that is cheap).

>>> rng = np.random.default_rng(0)
>>> unit = rng.normal(size=(300, 8)).astype(np.float32)
>>> unit /= np.linalg.norm(unit, axis=1, keepdims=True)
>>> present = np.ones(300, bool)
>>> ann = AnnIndex.build(unit, present, min_docs=0)
>>> ann is None or set(ann.search(unit[7], 5).tolist()) >= {7}
True
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Graph parameters: recall@50 0.968 against exact on the full catalog (benchmarks/ann_recall.py).
PARAMS = {"metric": "cos", "dtype": "f16", "connectivity": 16, "expansion_add": 128}
EXPANSION_SEARCH = 256
#: Below this many vectors the exact pass is as fast as the graph (< 0.3 ms): no graph.
MIN_DOCS = 10_000
OVERSAMPLE = 2.0
MAX_FETCH = 2_000


def _usearch() -> Any | None:
    """`usearch.index`, or None when the `ann` extra is not installed (search stays exact)."""
    try:
        from usearch import index
    except ModuleNotFoundError:
        return None
    return index


def available() -> bool:
    return _usearch() is not None


class AnnIndex:
    """An HNSW graph over a field's unit vectors; keys are document rows."""

    def __init__(self, graph: Any):
        graph.expansion_search = EXPANSION_SEARCH  # not stored in the file
        self.graph = graph

    @classmethod
    def build(cls, unit: np.ndarray, present: np.ndarray,
              min_docs: int | None = None) -> "AnnIndex | None":
        """The graph over the present rows, or None (no usearch, or fewer than `min_docs`,
        default `MIN_DOCS`)."""
        usearch = _usearch()
        rows = np.flatnonzero(present)
        if usearch is None or rows.size < max(1, MIN_DOCS if min_docs is None else min_docs):
            return None
        graph = usearch.Index(ndim=unit.shape[1], **PARAMS)
        graph.add(rows.astype(np.uint64), unit[rows], threads=0)
        return cls(graph)

    def replaced(self, rows: list[int], unit: np.ndarray, present: np.ndarray) -> "AnnIndex":
        """A copy with `rows` re-added from `unit` (or removed where not `present`); the old
        graph stays untouched for searches still holding the previous snapshot."""
        graph = self.graph.copy()
        keys = np.asarray(sorted(set(rows)), np.uint64)
        graph.remove(keys[[bool(graph.contains(int(k))) for k in keys]] if keys.size else keys)
        keep = keys[present[keys.astype(np.int64)]]
        if keep.size:
            graph.add(keep, unit[keep.astype(np.int64)], threads=0)
        return AnnIndex(graph)

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Rows of (about) the `count` nearest vectors to unit `query`."""
        found = self.graph.search(query, count, threads=1)
        return found.keys.astype(np.int64)

    def save(self, path: Path) -> None:
        self.graph.save(str(path))

    @classmethod
    def load(cls, path: Path, dims: int) -> "AnnIndex | None":
        """The saved graph, or None when usearch is not installed (search stays exact)."""
        usearch = _usearch()
        if usearch is None:
            log.info("%s: usearch is not installed; kNN stays exact", path)
            return None
        graph = usearch.Index(ndim=dims, **PARAMS)
        graph.load(str(path))
        return cls(graph)


def nearest(unit: np.ndarray, present: np.ndarray, ann: AnnIndex | None, query: np.ndarray,
            k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines) of the `k` nearest present, allowed vectors to unit `query`, unordered."""
    if ann is not None:
        n_present = int(present.sum())
        n_allowed = n_present if allowed is None else int(allowed.sum())
        fetch = k if allowed is None else int(np.ceil(k * OVERSAMPLE * n_present / max(1, n_allowed)))
        if n_allowed and fetch <= MAX_FETCH and fetch < n_present:
            rows = ann.search(query, fetch)
            if allowed is not None:
                rows = rows[allowed[rows]]
            if rows.size >= min(k, n_allowed):
                rows = rows[:k]
                return rows, unit[rows] @ query
    return exact(unit, present if allowed is None else present & allowed, query, k)


def exact(unit: np.ndarray, candidates: np.ndarray, query: np.ndarray,
          k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top `k` by cosine among `candidates` (ties to the lowest row)."""
    rows = np.flatnonzero(candidates)
    cos = (unit if rows.size == candidates.size else unit[rows]) @ query
    if rows.size > k:
        kth = np.partition(cos, rows.size - k)[rows.size - k]
        above = np.flatnonzero(cos > kth)
        pick = np.concatenate([above, np.flatnonzero(cos == kth)[: k - above.size]])
        rows, cos = rows[pick], cos[pick]
    return rows, cos
