"""EmbeddedEngine.update: partial updates by id, copy-on-write per field.

The reference is always a fresh `index()` of the merged documents: an update must be
indistinguishable from a rebuild, for hits, scores and `_source`.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_ltrr.common.schema import EMBEDDING_DIM
from es_ltrr.retrieval.engines import DocumentMissing, EmbeddedEngine, EngineError

WORDS = ["love", "lover", "story", "night", "summer", "dance", "blue", "love story"]
GENRES = ["pop", "rock", "r&b", "country"]
RNG = np.random.default_rng(7)
VECTORS = RNG.normal(size=(6, EMBEDDING_DIM)).astype(np.float32)

DOCS = [
    {"id": "d0", "type": "track", "name": "Love Story", "artist": "Taylor Swift",
     "genres": ["pop", "country"], "popularity": 80.0, "release_date": "2008-11-11",
     "q2e": {"love": 2.0, "story": 1.0}, "embedding": VECTORS[0].tolist()},
    {"id": "d1", "type": "track", "name": "Lover", "artist": "Taylor Swift", "genres": ["pop"],
     "popularity": 90.0, "q2e": {"lover": 4.0}, "embedding": VECTORS[1].tolist()},
    {"id": "d2", "type": "track", "name": "Summer Night", "artist": "Calvin Harris",
     "genres": ["dance"], "popularity": 60.0, "release_date": "2014"},
    {"id": "d3", "type": "artist", "name": "Blue", "genres": ["r&b", "pop"], "popularity": 40.0,
     "embedding": VECTORS[3].tolist()},
    {"id": "d4", "type": "track", "name": "Dance the Night", "artist": ["Dua Lipa"],
     "genres": ["pop"], "q2e": {"dance": 3.0}},
    {"id": "d5", "type": "album", "name": "Love Songs", "artist": "Various",
     "popularity": 55.0, "embedding": VECTORS[5].tolist()},
]

QUERIES = [
    {"match": {"name": "love story night"}},
    {"match": {"name": {"query": "lovr", "fuzziness": "AUTO"}}},
    {"match_phrase": {"name": "love story"}},
    {"multi_match": {"query": "love taylor", "fields": ["name^2", "artist", "name.trigram"]}},
    {"term": {"name.exact": "lover"}},
    {"terms": {"genres": ["pop", "rock"]}},
    {"bool": {"should": [{"match": {"artist": "taylor"}}, {"match": {"genres": "pop"}}]}},
    {"range": {"popularity": {"gte": 50}}},
    {"range": {"release_date": {"lte": "2010"}}},
    {"exists": {"field": "q2e"}},
    {"rank_feature": {"field": "q2e.love"}},
    {"rank_feature": {"field": "q2e.dance", "log": {"scaling_factor": 1}}},
    {"function_score": {"query": {"match_all": {}},
                        "field_value_factor": {"field": "popularity", "missing": 1}}},
    {"knn": {"embedding": {"vector": VECTORS[2].tolist(), "k": 3}}},
]


def _hits(engine: EmbeddedEngine, query: dict) -> dict[str, float]:
    response = engine.msearch([{"query": query, "size": 100}])[0]
    assert "error" not in response, response
    return {h["_id"]: h["_score"] for h in response["hits"]["hits"]}


def _same_searches(engine: EmbeddedEngine, reference: EmbeddedEngine) -> None:
    for query in QUERIES:
        got, want = _hits(engine, query), _hits(reference, query)
        assert got.keys() == want.keys(), query
        for doc_id, score in want.items():
            assert got[doc_id] == pytest.approx(score, rel=1e-5, abs=1e-5), (query, doc_id)


def _merged(docs: list[dict], updates: dict[str, dict]) -> list[dict]:
    return [{**doc, **updates.get(doc["id"], {})} for doc in docs]


def _engine(docs: list[dict]) -> EmbeddedEngine:
    engine = EmbeddedEngine()
    engine.index(docs)
    return engine


_values = {
    "name": st.sampled_from(WORDS) | st.lists(st.sampled_from(WORDS), max_size=2) | st.none(),
    "genres": st.lists(st.sampled_from(GENRES), max_size=3) | st.none(),
    "popularity": st.floats(0, 100, width=32) | st.none(),
    "release_date": st.sampled_from(["2001", "2010-05-01", "2020-01-31"]) | st.none(),
    "q2e": st.dictionaries(st.sampled_from(["love", "lover", "dance", "story"]),
                           st.floats(0.125, 50, width=32), max_size=3) | st.none(),
    "embedding": st.sampled_from(range(len(VECTORS))).map(lambda i: VECTORS[i].tolist())
    | st.none(),
}
_update = st.fixed_dictionaries({}, optional=_values)
_updates = st.dictionaries(st.sampled_from([d["id"] for d in DOCS]), _update, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds=st.lists(_updates, min_size=1, max_size=3))
def test_updates_search_like_a_fresh_index_of_the_merged_documents(rounds):
    engine, docs = _engine(DOCS), DOCS
    for updates in rounds:
        assert engine.update(updates) == len(updates)
        docs = _merged(docs, updates)
    reference = _engine(docs)
    _same_searches(engine, reference)
    ids = [d["id"] for d in DOCS]
    assert engine.get(ids) == reference.get(ids)


def test_update_replaces_top_level_fields_and_keeps_the_others():
    engine = _engine(DOCS)
    assert engine.update({"d1": {"q2e": {"night": 1.5}, "popularity": None}}) == 1
    source = engine.get(["d1"])["d1"]
    assert source["q2e"] == {"night": 1.5}  # replaced whole, not merged with {"lover": 4}
    assert source["popularity"] is None and source["name"] == "Lover"
    assert list(_hits(engine, {"rank_feature": {"field": "q2e.night"}})) == ["d1"]
    assert "d1" not in _hits(engine, {"rank_feature": {"field": "q2e.lover"}})
    assert "d1" not in _hits(engine, {"exists": {"field": "popularity"}})


def test_update_of_a_text_field_changes_its_statistics_only():
    engine = _engine(DOCS)
    before = engine._ix
    engine.update({"d2": {"name": "Love Love"}})
    after = engine._ix
    assert after is not before
    for path in ("name", "name.exact", "name.trigram"):
        assert after.fields[path] is not before.fields[path]
    for path in ("artist", "genres", "popularity", "q2e", "embedding"):
        assert after.fields[path] is before.fields[path]  # shared, not copied
    assert before.sources[2]["name"] == "Summer Night"  # the old snapshot is untouched
    assert _hits(engine, {"match": {"name": "love"}}) == _hits(
        _engine(_merged(DOCS, {"d2": {"name": "Love Love"}})), {"match": {"name": "love"}})


def test_unknown_ids_and_fields_are_errors_that_apply_nothing():
    engine = _engine(DOCS)
    before = engine._ix
    with pytest.raises(DocumentMissing, match="'nope'.*'gone'|'gone'.*'nope'"):
        engine.update({"d0": {"popularity": 1.0}, "nope": {"popularity": 2.0},
                       "gone": {"name": "x"}})
    with pytest.raises(EngineError, match="not in the mapping.*colour"):
        engine.update({"d0": {"popularity": 1.0}, "d1": {"colour": "red"}})
    with pytest.raises(EngineError, match="'id' field cannot change"):
        engine.update({"d0": {"id": "d9"}})
    with pytest.raises(EngineError, match="popularity"):  # a bad value fails the build
        engine.update({"d0": {"name": "Fine"}, "d1": {"popularity": "many"}})
    assert engine._ix is before
    assert engine.get(["d0"])["d0"]["popularity"] == 80.0


def test_empty_update_and_vector_removal():
    engine = _engine(DOCS)
    assert engine.update({}) == 0
    engine.update({"d0": {"embedding": None}})
    knn = {"knn": {"embedding": {"vector": VECTORS[0].tolist(), "k": 10}}}
    assert "d0" not in _hits(engine, knn)
    assert _hits(engine, knn) == _hits(_engine(_merged(DOCS, {"d0": {"embedding": None}})), knn)


def test_save_load_after_update_round_trips(tmp_path):
    engine = _engine(DOCS)
    updates = {"d3": {"name": "Blue Night", "q2e": {"blue": 2.5}}, "d4": {"genres": ["rock"]}}
    engine.update(updates)
    engine.save(tmp_path / "ix")
    loaded = EmbeddedEngine.load(tmp_path / "ix")
    _same_searches(loaded, engine)
    _same_searches(loaded, _engine(_merged(DOCS, updates)))
    ids = [d["id"] for d in DOCS]
    assert loaded.get(ids, source=["*", "embedding"]) == engine.get(ids, source=["*", "embedding"])


def test_searches_during_updates_see_whole_snapshots():
    """A search reads one snapshot: it sees either all of an update or none of it."""
    engine = _engine(DOCS)
    query = {"terms": {"genres": ["rock"]}}
    seen: set[tuple[str, ...]] = set()
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            seen.add(tuple(sorted(_hits(engine, query))))

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        for _ in range(30):
            engine.update({"d0": {"genres": ["rock"]}, "d5": {"genres": ["rock"]}})
            engine.update({"d0": {"genres": ["pop"]}, "d5": {"genres": None}})
    finally:
        stop.set()
        thread.join()
    assert seen <= {(), ("d0", "d5")}


def test_a_loaded_index_updates_and_is_saved_over_while_still_read(tmp_path):
    """Format 2 maps arrays and sources from disk: updating a loaded index, and saving over
    its own directory, must leave the loaded snapshot reading what it read before."""
    _engine(DOCS).save(tmp_path / "ix")
    loaded = EmbeddedEngine.load(tmp_path / "ix")
    ids = [d["id"] for d in DOCS]
    before = loaded.get(ids, source=["*", "embedding"])
    reader = EmbeddedEngine.load(tmp_path / "ix")
    updates = {"d3": {"name": "Blue Night", "q2e": {"blue": 2.5}}, "d1": {"embedding": None}}
    loaded.update(updates)
    loaded.save(tmp_path / "ix")
    assert reader.get(ids, source=["*", "embedding"]) == before
    _same_searches(reader, _engine(DOCS))
    _same_searches(EmbeddedEngine.load(tmp_path / "ix"), _engine(_merged(DOCS, updates)))
    assert EmbeddedEngine.load(tmp_path / "ix").get(["d3"])["d3"]["name"] == "Blue Night"
    assert not list((tmp_path / "ix").rglob("*.tmp"))
