"""Approximate kNN in the embedded engine (`engines/embedded/ann.py`, the `ann` extra).

Recall against exact search on a clustered synthetic set, a knn `filter` still pre-filtering
(oversampled graph search and the exact fallback), save/load, partial updates, and the
engine without usearch (exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from es_ltrr.common.schema import EMBEDDING_DIM
from es_ltrr.retrieval.engines import EmbeddedEngine
from es_ltrr.retrieval.engines.embedded import ann

N = 3000


@pytest.fixture
def with_graph(monkeypatch):
    """Graphs for small corpora too (the default skips them below `MIN_DOCS`)."""
    pytest.importorskip("usearch")
    monkeypatch.setattr(ann, "MIN_DOCS", 1)


@pytest.fixture
def without_usearch(monkeypatch):
    monkeypatch.setattr(ann, "_usearch", lambda: None)


def _vectors(n: int, seed: int = 3) -> np.ndarray:
    """Clustered like sentence embeddings (40 topics), not uniform noise."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, EMBEDDING_DIM))
    return (centers[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, EMBEDDING_DIM))).astype(np.float32)


def _docs(vectors: np.ndarray) -> list[dict]:
    return [{"id": f"d{i}", "type": "track" if i % 4 else "album", "name": f"song {i}",
             "embedding": v.tolist()} for i, v in enumerate(vectors)]


def _engine(vectors: np.ndarray) -> EmbeddedEngine:
    engine = EmbeddedEngine()
    engine.index(_docs(vectors))
    return engine


def _knn(engine: EmbeddedEngine, vector: np.ndarray, k: int, filt: dict | None = None) -> dict[str, float]:
    spec = {"vector": vector.tolist(), "k": k, **({"filter": filt} if filt else {})}
    hits = engine.search({"size": k, "query": {"knn": {"embedding": spec}}})["hits"]["hits"]
    return {h["_id"]: h["_score"] for h in hits}


def _exact(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> dict[str, float]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ (query / np.linalg.norm(query))
    rows = np.flatnonzero(allowed if allowed is not None else np.ones(len(unit), bool))
    top = rows[np.argsort(-cos[rows], kind="stable")[:k]]
    return {f"d{i}": (1 + cos[i]) / 2 for i in top}


def _graph(engine: EmbeddedEngine):
    return engine._ix.fields["embedding"].ann


def test_recall_at_50_against_exact_is_at_least_095(with_graph):
    vectors = _vectors(N)
    engine = _engine(vectors)
    assert _graph(engine) is not None
    queries = _vectors(60, seed=11)
    recall = [len(_knn(engine, q, 50).keys() & _exact(vectors, q, 50).keys()) / 50 for q in queries]
    assert np.mean(recall) >= 0.95


def test_scores_are_the_exact_cosine_of_the_hits_found(with_graph):
    vectors = _vectors(N)
    engine = _engine(vectors)
    query = _vectors(1, seed=5)[0]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ (query / np.linalg.norm(query))
    hits = _knn(engine, query, 20)
    assert len(hits) == 20
    for doc_id, score in hits.items():
        assert score == pytest.approx((1 + cos[int(doc_id[1:])]) / 2, abs=1e-6)


@pytest.mark.parametrize("kind", ["album", "track"])  # 1/4 of the docs (oversampled) and 3/4
def test_a_knn_filter_pre_filters(with_graph, kind):
    vectors = _vectors(N)
    engine = _engine(vectors)
    allowed = np.array([(i % 4 == 0) == (kind == "album") for i in range(N)])
    overlaps = []
    for query in _vectors(10, seed=13):
        got = _knn(engine, query, 30, {"term": {"type": kind}})
        assert len(got) == 30 and all(allowed[int(d[1:])] for d in got)
        overlaps.append(len(got.keys() & _exact(vectors, query, 30, allowed).keys()))
    # the graph is built on every core, so it differs run to run: recall is judged overall
    assert sum(overlaps) >= 0.9 * 300 and min(overlaps) >= 24, overlaps


def test_a_selective_filter_is_answered_exactly(with_graph):
    vectors = _vectors(N)
    engine = _engine(vectors)
    rows = list(range(0, N, 211))  # 15 docs: the graph would need > MAX_FETCH neighbours
    assert 10 * ann.OVERSAMPLE * N / len(rows) > ann.MAX_FETCH
    ids = [f"d{i}" for i in rows]
    allowed = np.zeros(N, bool)
    allowed[rows] = True
    query = _vectors(1, seed=17)[0]
    got = _knn(engine, query, 10, {"ids": {"values": ids}})
    assert got.keys() == _exact(vectors, query, 10, allowed).keys()


def test_the_graph_is_saved_and_loaded_with_the_index(with_graph, tmp_path):
    vectors = _vectors(N)
    engine = _engine(vectors)
    engine.save(tmp_path)
    assert (tmp_path / "embedding.usearch").is_file()
    loaded = EmbeddedEngine.load(tmp_path)
    assert _graph(loaded) is not None
    for query in _vectors(5, seed=19):
        found = _knn(engine, query, 25)
        assert len(found) == 25 and _knn(loaded, query, 25) == pytest.approx(found)


def test_a_saved_graph_loads_as_exact_search_without_usearch(with_graph, tmp_path, monkeypatch):
    vectors = _vectors(N)
    _engine(vectors).save(tmp_path)
    monkeypatch.setattr(ann, "_usearch", lambda: None)
    loaded = EmbeddedEngine.load(tmp_path)
    assert _graph(loaded) is None
    query = _vectors(1, seed=23)[0]
    assert _knn(loaded, query, 15).keys() == _exact(vectors, query, 15).keys()


def test_without_usearch_knn_is_exact(without_usearch, monkeypatch):
    monkeypatch.setattr(ann, "MIN_DOCS", 1)
    vectors = _vectors(500)
    engine = _engine(vectors)
    assert _graph(engine) is None
    query = _vectors(1, seed=29)[0]
    got, want = _knn(engine, query, 40), _exact(vectors, query, 40)
    assert got.keys() == want.keys()
    assert [got[d] for d in want] == pytest.approx(list(want.values()), abs=1e-6)


def test_small_corpora_get_no_graph(monkeypatch):
    monkeypatch.setattr(ann, "MIN_DOCS", 10_000)
    assert _graph(_engine(_vectors(200))) is None


def test_an_update_moves_the_vectors_in_the_graph_and_keeps_the_old_snapshot(with_graph):
    vectors = _vectors(N)
    engine = _engine(vectors)
    before = engine._ix
    query = _vectors(1, seed=31)[0]
    engine.update({"d5": {"embedding": query.tolist()}, "d6": {"embedding": None}})
    got = _knn(engine, query, 10)
    assert next(iter(got)) == "d5" and got["d5"] == pytest.approx(1.0)
    assert "d6" not in _knn(engine, vectors[6], 10)
    assert before.fields["embedding"].ann.graph.contains(6)  # searches in flight see the old one
