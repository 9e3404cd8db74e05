"""EmbeddedEngine: ES query-DSL semantics on tiny hand-made corpora (+ hypothesis properties)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_ltrr.retrieval.engines import EmbeddedEngine, Engine, EngineError, QueryError, UnsupportedQuery

K1, B = 1.2, 0.75
DIMS = 384

DOCS = [
    {"id": "t1", "type": "track", "name": "Lover", "artist": "Taylor Swift", "album": "Lover",
     "genres": ["pop"], "moods": ["happy"], "popularity": 90.0, "release_date": "2019-08-23",
     "release_year": 2019, "energy": 0.5, "q2e": {"lover": 4.0, "taylor_swift": 1.0},
     "q2e_queries": ["lover", "taylor swift lover"]},
    {"id": "t2", "type": "track", "name": "Love Story", "artist": "Taylor Swift",
     "album": "Fearless", "genres": ["pop", "country"], "popularity": 80.0,
     "release_date": "2008-11-11", "release_year": 2008, "energy": 0.7,
     "q2e": {"love_story": 2.0, "taylor_swift": 4.0}},
    {"id": "t3", "type": "track", "name": "Shake It Off", "artist": "Taylor Swift",
     "album": "1989", "genres": ["pop"], "popularity": 85.0, "release_date": "2014-08-18",
     "release_year": 2014, "energy": 0.8},
    {"id": "t4", "type": "track", "name": "Love Me Like You Do", "artist": "Ellie Goulding",
     "album": "Delirium", "genres": ["pop", "electropop"], "popularity": 70.0,
     "release_date": "2015-01-07", "release_year": 2015, "energy": 0.6},
    {"id": "t5", "type": "track", "name": "Crazy in Love", "artist": ["Beyoncé", "Jay-Z"],
     "album": "Dangerously in Love", "genres": ["r&b"], "release_date": "2003",
     "release_year": 2003},
    {"id": "a1", "type": "artist", "name": "Taylor Swift", "genres": ["pop", "country"],
     "popularity": 95.0, "description": "Singer songwriter of love songs"},
    {"id": "a2", "type": "artist", "name": "Beyoncé", "genres": ["r&b", "pop"],
     "popularity": 92.0},
    {"id": "al1", "type": "album", "name": "Midnights", "artist": "Taylor Swift",
     "genres": ["pop"], "popularity": 88.0, "release_date": "2022-10-21", "track_count": 13},
]


def _ids(response: dict) -> list[str]:
    assert "error" not in response, response
    return [h["_id"] for h in response["hits"]["hits"]]


def _scores(response: dict) -> dict[str, float]:
    assert "error" not in response, response
    return {h["_id"]: h["_score"] for h in response["hits"]["hits"]}


def _bm25(tf: float, dl: float, avgdl: float, df: int, n: int) -> float:
    """ES/OpenSearch LegacyBM25Similarity: keeps the (k1 + 1) factor Lucene 8 dropped."""
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return (K1 + 1) * idf * tf / (tf + K1 * (1 - B + B * dl / avgdl))


@pytest.fixture(scope="module")
def engine() -> EmbeddedEngine:
    e = EmbeddedEngine()
    assert e.index(DOCS) == len(DOCS)
    return e


def search(engine: EmbeddedEngine, query: dict, **body) -> dict:
    return engine.msearch([{"query": query, "size": 100, **body}])[0]


def names_engine(names: list) -> EmbeddedEngine:
    e = EmbeddedEngine()
    e.index([{"id": f"d{i}", "name": name} for i, name in enumerate(names)])
    return e


# --------------------------------------------------------------------------- protocol


def test_implements_engine_protocol(engine):
    assert isinstance(engine, Engine)
    assert engine.health() == {"status": "green", "docs": len(DOCS), "flavor": "embedded"}


def test_index_replaces_corpus_dedups_ids_and_reports_progress():
    e, seen = EmbeddedEngine(), []
    docs = [{"id": "x", "name": "old"}, {"id": "y", "name": "why"}, {"id": "x", "name": "new"}]
    assert e.index(docs, progress=seen.append) == 2
    assert seen[-1] == 3
    assert e.get(["x", "nope"]) == {"x": {"id": "x", "name": "new"}}
    assert _ids(search(e, {"match": {"name": "old"}})) == []
    e.index([{"id": "z", "name": "zed"}])
    assert e.health()["docs"] == 1


def test_rejects_documents_outside_the_schema():
    with pytest.raises(EngineError, match="not in the schema"):
        EmbeddedEngine().index([{"id": "x", "colour": "red"}])
    with pytest.raises(EngineError, match="positive"):
        EmbeddedEngine().index([{"id": "x", "q2e": {"a": -1.0}}])


# --------------------------------------------------------------------------- BM25


def test_bm25_score_equals_lucene_formula():
    e = names_engine(["love", "love story", "shake it off", "red"])
    scores = _scores(search(e, {"match": {"name": "love"}}))
    avgdl = (1 + 2 + 3 + 1) / 4
    assert scores["d0"] == pytest.approx(_bm25(1, 1, avgdl, 2, 4), rel=1e-6)
    assert scores["d1"] == pytest.approx(_bm25(1, 2, avgdl, 2, 4), rel=1e-6)
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)); "red": df 1 of N 4, tf-norm 1 / (1 + k1·norm)
    red = _scores(search(e, {"match": {"name": "red"}}))["d3"]
    assert red == pytest.approx((K1 + 1) * math.log(1 + 3.5 / 1.5) / (1 + K1 * (1 - B + B / avgdl)), rel=1e-6)


def test_idf_counts_only_documents_that_have_the_field():
    e = EmbeddedEngine()
    e.index([{"id": "a", "name": "love"}, {"id": "b", "name": "hate"}, {"id": "c"}, {"id": "d"}])
    score = _scores(search(e, {"match": {"name": "love"}}))["a"]
    assert score == pytest.approx(_bm25(1, 1, 1.0, 1, 2), rel=1e-6)


def test_rarer_term_and_shorter_field_score_higher():
    e = names_engine(["love a", "love b", "love c", "hate d"])  # equal lengths
    assert _scores(search(e, {"match": {"name": "hate"}}))["d3"] > _scores(
        search(e, {"match": {"name": "love"}}))["d0"]
    e = names_engine(["love", "love story", "love story time", "other"])
    s = _scores(search(e, {"match": {"name": "love"}}))
    assert s["d0"] > s["d1"] > s["d2"]


def test_field_lengths_are_quantized_like_lucene_norms():
    # Lucene stores lengths in one byte: 40 and 41 tokens decode to the same length.
    filler = ["w%d" % i for i in range(45)]
    e = names_engine([" ".join(["x"] + filler[:39]), " ".join(["x"] + filler[:40]),
                      " ".join(["x"] + filler[:20]), " ".join(["x"] + filler[:21])])
    s = _scores(search(e, {"match": {"name": "x"}}))
    assert s["d0"] == s["d1"]
    assert s["d2"] > s["d3"]


def test_array_text_is_concatenated_for_length_but_phrases_do_not_cross_values():
    e = EmbeddedEngine()
    e.index([{"id": "a", "name": ["love", "story"]}, {"id": "b", "name": "love story"}])
    assert _ids(search(e, {"match_phrase": {"name": "love story"}})) == ["b"]
    s = _scores(search(e, {"match": {"name": "love"}}))
    assert s["a"] == pytest.approx(s["b"])


# --------------------------------------------------------------------------- bool & co


def test_bool_semantics(engine):
    taylor = {"match": {"artist": "taylor"}}
    pop = {"term": {"genres": "pop"}}
    country = {"term": {"genres": "country"}}
    love = {"match": {"name": "love"}}
    assert set(_ids(search(engine, {"bool": {"must": [taylor], "must_not": [love]}}))) == {
        "t1", "t3", "al1"}  # "Lover" is not the token "love"
    assert set(_ids(search(engine, {"bool": {"filter": [taylor, country]}}))) == {"t2"}
    # should without must/filter: at least one must match
    assert set(_ids(search(engine, {"bool": {"should": [love, country]}}))) == {
        "t2", "t4", "t5", "a1"}
    # should with filter: optional (all filter matches, should only scores)
    res = search(engine, {"bool": {"filter": [pop], "should": [love]}})
    assert _scores(res)["t3"] == 0.0 and _scores(res)["t2"] > 0
    assert res["hits"]["total"]["value"] == 7
    # minimum_should_match
    two = {"bool": {"should": [love, country, pop], "minimum_should_match": 2}}
    assert set(_ids(search(engine, two))) == {"t2", "t4", "a1"}
    pct = {"bool": {"should": [love, country, pop], "minimum_should_match": "100%"}}
    assert _ids(search(engine, pct)) == ["t2"]
    # filter-only scores 0; empty bool is match_all with score 1; boost multiplies
    assert set(_scores(search(engine, {"bool": {"filter": [pop]}})).values()) == {0.0}
    assert set(_scores(search(engine, {"bool": {}})).values()) == {1.0}
    plain = _scores(search(engine, {"bool": {"must": [love]}}))
    boosted = _scores(search(engine, {"bool": {"must": [love], "boost": 2}}))
    assert boosted["t2"] == pytest.approx(2 * plain["t2"])


def test_constant_score_dis_max_ids_exists_terms(engine):
    res = _scores(search(engine, {"constant_score": {"filter": {"term": {"type": "artist"}},
                                                     "boost": 3}}))
    assert res == {"a1": 3.0, "a2": 3.0}
    a = {"match": {"name": "love"}}
    b = {"match": {"album": "love"}}
    sa, sb = _scores(search(engine, a)), _scores(search(engine, b))
    dm = _scores(search(engine, {"dis_max": {"queries": [a, b], "tie_breaker": 0.5}}))
    assert dm["t5"] == pytest.approx(max(sa["t5"], sb["t5"]) + 0.5 * min(sa["t5"], sb["t5"]))
    assert _ids(search(engine, {"ids": {"values": ["a2", "zz", "t1"]}})) == ["t1", "a2"]
    assert set(_ids(search(engine, {"exists": {"field": "description"}}))) == {"a1"}
    assert set(_ids(search(engine, {"exists": {"field": "q2e.lover"}}))) == {"t1"}
    assert set(_ids(search(engine, {"terms": {"type": ["album", "artist"]}}))) == {
        "a1", "a2", "al1"}
    assert set(_ids(search(engine, {"term": {"_id": "t3"}}))) == {"t3"}


def test_keyword_term_is_normalized_and_scored_like_lucene(engine):
    res = _scores(search(engine, {"term": {"name.exact": "BEYONCE"}}))
    assert list(res) == ["a2"]
    # keyword: no norms, tf = 1 → idf / (1 + k1·(1 − b + b/avgdl)), avgdl = values per doc
    n, df, avg = len(DOCS), 1, 1.0
    expected = (K1 + 1) * math.log(1 + (n - df + 0.5) / (df + 0.5)) / (1 + K1 * (1 - B + B / avg))
    assert res["a2"] == pytest.approx(expected, rel=1e-6)
    assert _ids(search(engine, {"term": {"genres": "Pop"}})) == []  # no normalizer on genres
    assert _ids(search(engine, {"match": {"name.exact": "taylor SWIFT"}})) == ["a1"]
    # term on a text field looks the raw term up (indexed terms are lowercase)
    assert _ids(search(engine, {"term": {"name": "Lover"}})) == []
    assert _ids(search(engine, {"term": {"name": "lover"}})) == ["t1"]


def test_range_numbers_and_dates(engine):
    pop = {"range": {"popularity": {"gte": 85, "lt": 92}}}
    assert set(_ids(search(engine, pop))) == {"t1", "t3", "al1"}
    # lte "2014" rounds up to the end of 2014, gt "2014" excludes all of 2014 (like ES)
    assert set(_ids(search(engine, {"range": {"release_date": {"lte": "2014"}}}))) == {
        "t2", "t3", "t5"}
    assert set(_ids(search(engine, {"range": {"release_date": {"gt": "2014"}}}))) == {
        "t1", "t4", "al1"}
    assert set(_ids(search(engine, {"range": {"release_date": {"gte": "2015-01-07"}}}))) == {
        "t1", "t4", "al1"}
    assert _ids(search(engine, {"range": {"release_year": {"gt": 2019}}})) == []
    assert _ids(search(engine, {"range": {"nonexistent": {"gt": 1}}})) == []


def test_multi_valued_and_float_fields_behave_like_es():
    e = EmbeddedEngine()
    e.index([{"id": "m", "popularity": [50, 10], "release_date": ["2001-01-01", 978307200000]},
              {"id": "f", "popularity": 0.1, "energy": "0.5"}])
    assert _ids(search(e, {"range": {"popularity": {"gte": 40}}})) == ["m"]
    assert _ids(search(e, {"term": {"popularity": 0.1}})) == ["f"]  # float32 both sides
    assert _ids(search(e, {"match": {"energy": 0.5}})) == ["f"]  # strings are coerced
    assert _ids(search(e, {"term": {"release_date": "2001-01-01"}})) == ["m"]
    fs = {"function_score": {"query": {"ids": {"values": ["m"]}}, "boost_mode": "replace",
                             "functions": [{"field_value_factor": {"field": "popularity"}}]}}
    assert _scores(search(e, fs)) == {"m": 10.0}  # the smallest value, like doc values
    for mode, expect in [("min", 1.0), ("max", 0.5)]:
        fs["function_score"]["functions"] = [{"linear": {"popularity": {
            "origin": 50, "scale": 40}}, }]
        fs["function_score"]["functions"][0]["linear"]["multi_value_mode"] = mode
        assert _scores(search(e, fs)) == {"m": pytest.approx(expect)}


def test_lenient_and_type_errors(engine):
    res = engine.msearch([
        {"query": {"multi_match": {"query": "love", "fields": ["name", "release_year"]}}},
        {"query": {"multi_match": {"query": "love", "fields": ["name", "release_year"],
                                   "lenient": True}}},
        {"query": {"match": {"q2e": "love"}}},
        {"query": {"match_all": {}}, "from": 9995, "size": 10},
        {"query": {"match_all": {"boost": -1}}},
    ])
    assert [r["status"] for r in res] == [400, 200, 400, 400, 400]
    assert "can't parse [love] as a number" in res[0]["error"]["reason"]


# --------------------------------------------------------------------------- match family


def test_fuzzy_matches_typos(engine):
    fuzzy = {"match": {"artist": {"query": "tayler", "fuzziness": "AUTO"}}}
    assert set(_ids(search(engine, fuzzy))) == {"t1", "t2", "t3", "al1"}
    lovr = _ids(search(engine, {"match": {"name": {"query": "lovr", "fuzziness": "AUTO"}}}))
    assert "t1" in lovr
    assert _ids(search(engine, {"match": {"name": {"query": "lovr"}}})) == []
    # AUTO: 0 edits for 1-2 chars, so "lo" does not reach "love"
    assert _ids(search(engine, {"match": {"name": {"query": "lo", "fuzziness": "AUTO"}}})) == []
    # prefix_length: the first characters must match exactly
    swapped = {"match": {"artist": {"query": "atylor", "fuzziness": 2, "prefix_length": 1}}}
    assert _ids(search(engine, swapped)) == []
    swapped["match"]["artist"]["prefix_length"] = 0
    assert len(_ids(search(engine, swapped))) == 4


def test_fuzzy_expansion_weight_and_blended_idf():
    e = names_engine(["taylor", "taylor", "taylor", "tailor"])
    s = _scores(search(e, {"match": {"name": {"query": "taylor", "fuzziness": 1}}}))
    # blended idf: both expansions score with the df of the most frequent (taylor, df 3)
    exact = _bm25(1, 1, 1.0, 3, 4)
    assert s["d0"] == pytest.approx(exact, rel=1e-6)
    assert s["d3"] == pytest.approx(exact * (1 - 1 / 6), rel=1e-6)


def test_match_operator_and_minimum_should_match(engine):
    q = {"match": {"name": {"query": "love me like", "operator": "and"}}}
    assert _ids(search(engine, q)) == ["t4"]
    q = {"match": {"name": {"query": "crazy love story", "minimum_should_match": "2"}}}
    assert set(_ids(search(engine, q))) == {"t2", "t5"}
    q = {"match": {"name": {"query": "crazy love story", "minimum_should_match": "-1"}}}
    assert set(_ids(search(engine, q))) == {"t2", "t5"}
    q = {"match": {"name": {"query": "crazy love story", "minimum_should_match": "2<67%"}}}
    assert set(_ids(search(engine, q))) == {"t2", "t5"}
    q = {"match": {"name": {"query": "!!!", "zero_terms_query": "all"}}}
    assert len(_ids(search(engine, q))) == len(DOCS)


def test_match_phrase(engine):
    assert _ids(search(engine, {"match_phrase": {"name": "love story"}})) == ["t2"]
    assert _ids(search(engine, {"match_phrase": {"name": "story love"}})) == []
    assert _ids(search(engine, {"match_phrase": {"name": "like you do"}})) == ["t4"]
    with pytest.raises(UnsupportedQuery, match="slop"):
        engine.search({"query": {"match_phrase": {"name": {"query": "a b", "slop": 2}}}})


def test_multi_match_best_fields_vs_most_fields(engine):
    fields = ["name", "artist^2"]
    one = {f: _scores(search(engine, {"match": {f.split("^")[0]: "taylor swift"}}))
           for f in fields}
    best = _scores(search(engine, {"multi_match": {"query": "taylor swift", "fields": fields}}))
    most = _scores(search(engine, {"multi_match": {"query": "taylor swift", "fields": fields,
                                                   "type": "most_fields"}}))
    tie = _scores(search(engine, {"multi_match": {"query": "taylor swift", "fields": fields,
                                                  "tie_breaker": 0.3}}))
    assert set(best) == set(most) == {"t1", "t2", "t3", "a1", "al1"}
    a1_name, t1_artist = one["name"]["a1"], 2 * one["artist^2"]["t1"]
    assert best["a1"] == pytest.approx(a1_name) and best["t1"] == pytest.approx(t1_artist)
    # most_fields sums the fields, best_fields takes the best (+ tie_breaker × the rest)
    al1 = (one["name"].get("al1", 0.0), 2 * one["artist^2"]["al1"])
    assert most["al1"] == pytest.approx(sum(al1), rel=1e-6)
    assert tie["al1"] == pytest.approx(max(al1) + 0.3 * min(al1), rel=1e-6)
    wild = _scores(search(engine, {"multi_match": {"query": "swift", "fields": ["artist*"]}}))
    assert set(wild) == {"t1", "t2", "t3", "al1"}
    with pytest.raises(UnsupportedQuery, match="cross_fields"):
        engine.search({"query": {"multi_match": {"query": "x", "fields": ["name"],
                                                 "type": "cross_fields"}}})


# --------------------------------------------------------------------------- function_score


def _fs(engine, **spec) -> dict[str, float]:
    return _scores(search(engine, {"function_score": {"query": {"term": {"type": "track"}},
                                                      **spec}}))


def test_function_score_field_value_factor_and_modes(engine):
    base = _fs(engine, functions=[])
    fvf = {"field_value_factor": {"field": "popularity", "modifier": "log1p", "factor": 2,
                                  "missing": 1}}
    s = _fs(engine, functions=[fvf])
    assert s["t1"] == pytest.approx(base["t1"] * math.log10(1 + 2 * 90), rel=1e-6)
    assert s["t5"] == pytest.approx(base["t5"] * math.log10(1 + 2 * 1), rel=1e-6)
    with pytest.raises(QueryError, match="missing"):
        engine.search({"query": {"function_score": {"field_value_factor": {
            "field": "popularity"}}}})
    w2 = {"filter": {"term": {"genres": "country"}}, "weight": 2}
    w3 = {"filter": {"term": {"genres": "pop"}}, "weight": 3}
    rep = {"boost_mode": "replace"}
    assert _fs(engine, functions=[w2, w3], **rep) == {
        "t1": 3, "t2": 6, "t3": 3, "t4": 3, "t5": 1}
    assert _fs(engine, functions=[w2, w3], score_mode="sum", **rep)["t2"] == 5
    # avg is weighted: Σ f·w / Σ w, so weight-only functions average to 1 (as in ES)
    assert _fs(engine, functions=[w2, w3], score_mode="avg", **rep)["t2"] == 1
    pop = {"field_value_factor": {"field": "popularity", "factor": 0.01, "missing": 1},
           "weight": 2}
    assert _fs(engine, functions=[pop, w3], score_mode="avg", **rep)["t1"] == pytest.approx(
        (0.9 * 2 + 1 * 3) / 5)
    assert _fs(engine, functions=[w2, w3], score_mode="max", **rep)["t2"] == 3
    assert _fs(engine, functions=[w2, w3], score_mode="min", **rep)["t2"] == 2
    assert _fs(engine, functions=[w2, w3], score_mode="first", **rep)["t2"] == 2
    assert _fs(engine, functions=[w2, w3], score_mode="first", **rep)["t5"] == 1
    assert _fs(engine, functions=[w2, w3], max_boost=4, **rep)["t2"] == 4
    assert set(_fs(engine, functions=[w2, w3], min_score=3, **rep)) == {"t1", "t2", "t3", "t4"}
    for mode, expect in [("sum", base["t2"] + 6), ("avg", (base["t2"] + 6) / 2),
                         ("max", 6), ("min", base["t2"]), ("multiply", base["t2"] * 6)]:
        assert _fs(engine, functions=[w2, w3], boost_mode=mode)["t2"] == pytest.approx(expect)


def test_function_score_decay_and_random(engine):
    for kind in ("gauss", "exp", "linear"):
        spec = {kind: {"popularity": {"origin": 100, "scale": 5, "offset": 10, "decay": 0.5}}}
        s = _fs(engine, functions=[spec], boost_mode="replace")
        assert s["t3"] == pytest.approx(0.5)  # |85 − 100| − offset 10 = scale → decay
        assert s["t1"] == pytest.approx(1.0)  # within the offset
        assert s["t4"] < 0.5
        assert s["t5"] == 1.0  # missing field → 1
    g = _fs(engine, functions=[{"gauss": {"release_date": {
        "origin": "2019-08-23", "scale": "365d"}}}], boost_mode="replace")
    assert g["t1"] == pytest.approx(1.0) and g["t2"] < g["t4"] < g["t1"]
    r1 = _fs(engine, functions=[{"random_score": {"seed": 7, "field": "_seq_no"}}])
    r2 = _fs(engine, functions=[{"random_score": {"seed": 7, "field": "_seq_no"}}])
    r3 = _fs(engine, functions=[{"random_score": {"seed": 8, "field": "_seq_no"}}])
    assert r1 == r2 and r1 != r3
    assert all(0 <= v < 1 for v in r1.values())


def test_rank_feature_functions(engine):
    def rf(**spec):
        return _scores(search(engine, {"rank_feature": {"field": "q2e.taylor_swift", **spec}}))

    assert rf(saturation={"pivot": 2.0}) == pytest.approx({"t2": 4 / 6, "t1": 1 / 3})
    # default pivot: Lucene's approximate geometric mean of 1 and 4 = 2
    assert rf() == pytest.approx({"t2": 4 / 6, "t1": 1 / 3})
    assert rf(log={"scaling_factor": 1}) == pytest.approx({"t2": math.log(5), "t1": math.log(2)})
    assert rf(sigmoid={"pivot": 2, "exponent": 2}) == pytest.approx({"t2": 0.8, "t1": 0.2})
    assert rf(linear={}, boost=2) == pytest.approx({"t2": 8.0, "t1": 2.0})
    assert _ids(search(engine, {"rank_feature": {"field": "q2e.nope"}})) == []


def test_rank_feature_values_keep_nine_significant_bits():
    e = EmbeddedEngine()
    e.index([{"id": "a", "q2e": {"k": 1.001}}])
    s = _scores(search(e, {"rank_feature": {"field": "q2e.k", "linear": {}}}))
    assert s["a"] != 1.001 and s["a"] == pytest.approx(1.001, rel=2**-8)


# --------------------------------------------------------------------------- kNN


@pytest.fixture(scope="module")
def vec_engine() -> tuple[EmbeddedEngine, np.ndarray]:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((60, DIMS)).astype(np.float32)
    docs = [{"id": f"v{i}", "type": "track" if i % 2 else "album", "name": f"n{i % 3}",
             "embedding": vectors[i] * (i + 1)} for i in range(60)]
    docs.append({"id": "novec", "type": "track", "name": "n0"})
    e = EmbeddedEngine()
    e.index(docs)
    return e, vectors


def _brute(vectors: np.ndarray, q: np.ndarray, k: int, keep=None) -> dict[str, float]:
    cos = vectors @ q / np.linalg.norm(vectors, axis=1) / np.linalg.norm(q)
    order = [i for i in np.argsort(-cos) if keep is None or keep(i)][:k]
    return {f"v{i}": (1 + cos[i]) / 2 for i in order}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 70))
def test_knn_top_k_equals_brute_force(vec_engine, seed, k):
    e, vectors = vec_engine
    q = np.random.default_rng(seed).standard_normal(DIMS)
    expect = _brute(vectors, q, k)
    es = search(e, {"knn": {"field": "embedding", "query_vector": q.tolist(), "k": k,
                            "num_candidates": max(k, 100)}})
    os_ = search(e, {"knn": {"embedding": {"vector": q.tolist(), "k": k}}})
    top = e.msearch([{"knn": {"field": "embedding", "query_vector": q.tolist(), "k": k},
                      "size": 100}])[0]
    for res in (es, os_, top):
        got = _scores(res)
        # same ranked scores; ids may swap only where float32 scores tie
        assert list(got.values()) == pytest.approx(list(expect.values()), rel=1e-5)
        all_scores = _brute(vectors, q, len(vectors))
        assert all(all_scores[i] == pytest.approx(v, rel=1e-5) for i, v in got.items())


def test_knn_filter_and_combination_with_query(vec_engine):
    e, vectors = vec_engine
    q = vectors[5] + 0.1
    filt = {"term": {"type": "album"}}
    expect = _brute(vectors, q, 5, keep=lambda i: i % 2 == 0)
    es = _scores(search(e, {"knn": {"field": "embedding", "query_vector": q.tolist(), "k": 5,
                                    "num_candidates": 50, "filter": filt}}))
    os_ = _scores(search(e, {"knn": {"embedding": {"vector": q.tolist(), "k": 5,
                                                   "filter": filt}}}))
    assert list(es) == list(os_) == list(expect)
    # top-level knn + query: union of hits, scores add
    body = {"query": {"match": {"name": "n0"}}, "size": 100,
            "knn": {"field": "embedding", "query_vector": q.tolist(), "k": 3}}
    both = _scores(e.msearch([body])[0])
    knn_only = _brute(vectors, q, 3)
    text = _scores(search(e, {"match": {"name": "n0"}}))
    assert set(both) == set(knn_only) | set(text)
    for doc_id, score in both.items():
        assert score == pytest.approx(knn_only.get(doc_id, 0) + text.get(doc_id, 0), rel=1e-5)
    assert "novec" in text and "novec" not in _scores(search(e, {"knn": {"embedding": {
        "vector": q.tolist(), "k": 100}}}))
    bad = e.msearch([{"knn": {"field": "embedding", "query_vector": [1.0, 2.0], "k": 3}}])[0]
    assert bad["status"] == 400 and "dims" in bad["error"]["reason"]


# --------------------------------------------------------------------------- responses


def test_response_shape_paging_and_min_score(engine):
    res = engine.msearch([{"query": {"match": {"artist": "taylor"}}, "size": 2, "from": 1}])[0]
    assert res["hits"]["total"] == {"value": 4, "relation": "eq"}
    full = search(engine, {"match": {"artist": "taylor"}})
    assert _ids(res) == _ids(full)[1:3]
    assert res["hits"]["max_score"] == full["hits"]["hits"][0]["_score"]
    assert isinstance(res["took"], int)
    empty = search(engine, {"match_none": {}})
    assert empty["hits"]["max_score"] is None and empty["hits"]["hits"] == []
    love = search(engine, {"match": {"name": "love"}})
    cut = search(engine, {"match": {"name": "love"}}, min_score=love["hits"]["max_score"])
    assert cut["hits"]["total"]["value"] == 1 < love["hits"]["total"]["value"]
    named = search(engine, {"bool": {"should": [
        {"match": {"name": {"query": "love", "_name": "name_love"}}},
        {"term": {"genres": {"value": "country", "_name": "country"}}}]}})
    matched = {h["_id"]: h.get("matched_queries") for h in named["hits"]["hits"]}
    assert sorted(matched["t2"]) == ["country", "name_love"] and matched["t4"] == ["name_love"]


def test_source_filtering(engine, vec_engine):
    one = {"ids": {"values": ["t1"]}}
    assert "_source" not in search(engine, one, _source=False)["hits"]["hits"][0]
    assert search(engine, one, _source=["name", "artist"])["hits"]["hits"][0]["_source"] == {
        "name": "Lover", "artist": "Taylor Swift"}
    src = search(engine, one, _source={"includes": ["name*", "q2e.lover"],
                                       "excludes": ["name"]})["hits"]["hits"][0]["_source"]
    assert src == {"q2e": {"lover": 4.0}}
    src = search(engine, one, _source={"excludes": ["q2e*", "release*"]})
    assert set(src["hits"]["hits"][0]["_source"]) == {
        "id", "type", "name", "artist", "album", "genres", "moods", "popularity", "energy"}
    e, vectors = vec_engine
    hit = search(e, {"ids": {"values": ["v3"]}})["hits"]["hits"][0]
    assert "embedding" not in hit["_source"]
    hit = search(e, {"ids": {"values": ["v3"]}}, _source=["id", "embedding"])["hits"]["hits"][0]
    assert np.allclose(hit["_source"]["embedding"], vectors[3] * 4, rtol=1e-5, atol=1e-5)
    assert e.get(["v3"], source=["embedding"])["v3"].keys() == {"embedding"}


def test_msearch_isolates_failing_bodies(engine):
    good = {"query": {"match": {"name": "love"}}}
    res = engine.msearch([good, {"query": {"bool": {"filter": [{"geo_shape": {}}]}}},
                          {"query": {"match": {"name": "love"}}, "size": "many"}, "nope", good])
    assert [r["status"] for r in res] == [200, 400, 400, 400, 200]
    assert res[1]["error"] == {
        "type": "unsupported_query_exception",
        "reason": "unsupported query clause 'geo_shape' at query.bool.filter[0]",
        "root_cause": [{"type": "unsupported_query_exception",
                        "reason": "unsupported query clause 'geo_shape' at query.bool.filter[0]"}]}
    assert _ids(res[0]) == _ids(res[4])


@pytest.mark.parametrize("body, message", [
    ({"aggs": {"x": {}}}, "unsupported search body key 'aggs' at aggs"),
    ({"query": {"match_all": {}}, "rescore": {}}, "'rescore' at rescore"),
    ({"query": {"bool": {"must": {"script": {}}}}}, "'script' at query.bool.must"),
    ({"query": {"dis_max": {"queries": [{"match_all": {}}, {"wildcard": {}}]}}},
     "'wildcard' at query.dis_max.queries[1]"),
    ({"query": {"match": {"name": {"query": "x", "fuzzy_rewrite": "x"}}}},
     "'fuzzy_rewrite' in 'match' at query.match.name"),
    ({"query": {"function_score": {"functions": [{"script_score": {}}]}}},
     "'script_score' in 'function' at query.function_score.functions[0]"),
    ({"query": {"match_all": {}}, "sort": [{"popularity": "desc"}]}, "sort[0]"),
    ({"query": {"range": {"release_date": {"gte": "now-1y"}}}}, "date math"),
])
def test_unsupported_queries_name_the_path(engine, body, message):
    with pytest.raises(UnsupportedQuery) as info:
        engine.search(body)
    assert message in str(info.value)


def test_save_load_roundtrip(tmp_path, vec_engine):
    e, vectors = vec_engine
    bodies = [{"query": {"match": {"name": {"query": "n1", "fuzziness": 1}}}, "size": 50},
              {"knn": {"field": "embedding", "query_vector": vectors[0].tolist(), "k": 7}},
              {"query": {"bool": {"filter": {"term": {"type": "track"}}}}, "_source": True}]
    e.save(tmp_path / "idx")
    loaded = EmbeddedEngine.load(tmp_path / "idx")
    assert loaded.health() == e.health()
    before, after = e.msearch(bodies), loaded.msearch(bodies)
    assert len(before) == len(after) == len(bodies)
    for a, b in zip(before, after):
        a.pop("took"), b.pop("took")
        assert a == b
    big = EmbeddedEngine()
    big.index(DOCS)
    big.save(tmp_path / "music")
    again = EmbeddedEngine.load(tmp_path / "music")
    body = [{"query": {"bool": {"should": [
        {"multi_match": {"query": "taylor lover", "fields": ["name^2", "artist", "album"]}},
        {"rank_feature": {"field": "q2e.lover"}},
        {"range": {"release_date": {"gte": "2010"}}}]}}, "size": 20}]
    r1, r2 = big.msearch(body)[0], again.msearch(body)[0]
    assert r1["hits"] == r2["hits"]


# --------------------------------------------------------------------------- properties

WORDS = ["love", "lover", "taylor", "swift", "story", "crazy", "tayler", "shake", "pop", "x"]

_leaf = st.one_of(
    st.builds(lambda w: {"match": {"name": w}}, st.sampled_from(WORDS)),
    st.builds(lambda w, f: {"match": {"artist": {"query": w, "fuzziness": f}}},
              st.sampled_from(WORDS), st.sampled_from([0, 1, "AUTO"])),
    st.builds(lambda a, b: {"multi_match": {"query": f"{a} {b}", "fields": ["name^2", "artist"],
                                            "type": "most_fields"}},
              st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.builds(lambda g: {"term": {"genres": g}}, st.sampled_from(["pop", "country", "r&b"])),
    st.builds(lambda t: {"terms": {"type": t}}, st.lists(st.sampled_from(
        ["track", "artist", "album"]), min_size=1, max_size=2)),
    st.builds(lambda lo: {"range": {"popularity": {"gte": lo}}}, st.integers(60, 100)),
    st.builds(lambda y: {"range": {"release_date": {"lte": str(y)}}}, st.integers(2000, 2023)),
    st.builds(lambda f: {"exists": {"field": f}}, st.sampled_from(
        ["popularity", "description", "q2e.lover", "name.exact"])),
    st.just({"match_phrase": {"name": "love story"}}),
    st.just({"rank_feature": {"field": "q2e.taylor_swift"}}),
    st.just({"match_all": {}}),
)


def _compound(children):
    lists = st.lists(children, max_size=3)
    return st.one_of(
        st.builds(lambda m, s, f, n, msm: {"bool": {"must": m, "should": s, "filter": f,
                                                   "must_not": n, "minimum_should_match": msm}},
                  lists, lists, lists, lists, st.sampled_from([0, 1, "50%"])),
        st.builds(lambda qs, t: {"dis_max": {"queries": qs, "tie_breaker": t}},
                  st.lists(children, min_size=1, max_size=3), st.sampled_from([0.0, 0.5])),
        st.builds(lambda q: {"constant_score": {"filter": q, "boost": 2}}, children),
        st.builds(lambda q, mode: {"function_score": {"query": q, "boost_mode": mode, "functions": [
            {"field_value_factor": {"field": "popularity", "modifier": "sqrt", "missing": 4}},
            {"filter": {"term": {"genres": "pop"}}, "weight": 2}]}},
            children, st.sampled_from(["multiply", "sum", "replace"])),
    )


_query = st.recursive(_leaf, _compound, max_leaves=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=_query, f=_query)
def test_random_trees_run_and_filters_only_change_membership(engine, q, f):
    plain, filt, alone = engine.msearch([
        {"query": q, "size": 100},
        {"query": {"bool": {"must": [q], "filter": [f]}}, "size": 100},
        {"query": f, "size": 100}])
    for res in (plain, filt, alone):
        assert res["status"] == 200, res
    sp, sf = _scores(plain), _scores(filt)
    assert set(sf) == set(sp) & set(_scores(alone))
    for doc_id, score in sf.items():
        assert score == pytest.approx(sp[doc_id], rel=1e-6, abs=1e-7)


def test_decoded_sources_are_bounded(tmp_path, monkeypatch):
    """A soak of the full catalog grew by every source ever decoded: the cache keeps the most
    recent MAX_DECODED only, and an evicted row decodes again to the same document."""
    from es_ltrr.retrieval.engines.embedded import stored

    docs = [{"id": f"d{i}", "name": f"doc {i}"} for i in range(50)]
    stored.write_sources(tmp_path, docs, default=str)
    monkeypatch.setattr(stored, "MAX_DECODED", 10)
    sources = stored.StoredSources.load(tmp_path)
    assert [sources[i] for i in range(50)] == docs
    assert len(sources._decoded._items) == 10
    assert sources[0] == docs[0] and sources[49] is sources[49]
