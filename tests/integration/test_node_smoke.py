"""Smoke checks of the real OpenSearch node that `es_ltrr.devnode` assembles from Maven Central.

They prove that the pieces the project relies on are really there: the rebuilt modules
(rank_features, analysis-common filters/tokenizers, mustache search templates), k-NN with the
Lucene engine, and the LTR plugin (feature store, featureset, model, sltr rescore).
Start a node (`es-ltrr node start`) and set ES_LTRR_TEST_CLUSTER to its URL; nothing here
touches the network before a test asks for the `node` fixture.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.cluster

INDEX = f"es-ltrr-smoke-{os.getpid()}"
FEATURESET, MODEL = f"{INDEX}-fs", f"{INDEX}-linear"


@dataclass(frozen=True)
class Node:
    """The test node's HTTP API."""

    url: str

    def call(self, method: str, path: str, body=None, ndjson: list | None = None, ok=(200, 201)):
        """One HTTP call; returns (status, parsed JSON). Fails the test on an unexpected status."""
        data, ctype = None, "application/json"
        if ndjson is not None:
            data, ctype = ("\n".join(json.dumps(x) for x in ndjson) + "\n").encode(), "application/x-ndjson"
        elif body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        parsed = json.loads(raw) if raw else None
        assert status in ok, f"{method} {path} -> {status}: {raw[:1000]!r}"
        return status, parsed

    def plugins(self) -> set[str]:
        return {p["component"] for p in self.call("GET", "/_cat/plugins?format=json")[1]}


@pytest.fixture(scope="module")
def node(cluster_url) -> Node:
    return Node(cluster_url.rstrip("/"))


@pytest.fixture(scope="module")
def has_knn(node) -> bool:
    return "opensearch-knn" in node.plugins()


@pytest.fixture(scope="module")
def needs_knn(has_knn) -> None:
    if not has_knn:
        pytest.skip("opensearch-knn plugin not installed")


@pytest.fixture(scope="module")
def needs_ltr(node) -> None:
    if "opensearch-ltr" not in node.plugins():
        pytest.skip("opensearch-ltr plugin not installed (not on Maven Central; see ES_LTRR_LTR_ZIP)")


DOCS = [
    {"title": "Crazy in Love", "artist": "Beyoncé", "genre": "pop",
     "q2e": {"love_song": 3.0, "beyonce": 5.0}, "vec": [1.0, 0.0, 0.0, 0.0]},
    {"title": "Love Story", "artist": "Taylor Swift", "genre": "country",
     "q2e": {"love_song": 1.5}, "vec": [0.0, 1.0, 0.0, 0.0]},
    {"title": "Smells Like Teen Spirit", "artist": "Nirvana", "genre": "rock",
     "q2e": {"grunge": 4.0}, "vec": [0.0, 0.0, 1.0, 0.0]},
]


def index_body(has_knn: bool) -> dict:
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "analysis": {
        "tokenizer": {"ngram34": {"type": "ngram", "min_gram": 3, "max_gram": 4,
                                  "token_chars": ["letter", "digit"]}},
        "analyzer": {"folded_ngram": {"type": "custom", "tokenizer": "ngram34",
                                      "filter": ["lowercase", "asciifolding"]}}}}
    props = {"title": {"type": "text"}, "genre": {"type": "keyword"},
             "artist": {"type": "text", "analyzer": "folded_ngram"},
             "q2e": {"type": "rank_features"}}
    if has_knn:
        settings["knn"] = True
        props["vec"] = {"type": "knn_vector", "dimension": 4, "method": {
            "name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}}
    return {"settings": {"index": settings}, "mappings": {"properties": props}}


@pytest.fixture(scope="module", autouse=True)
def smoke_index(node, has_knn):
    node.call("DELETE", f"/{INDEX}", ok=(200, 404))
    node.call("PUT", f"/{INDEX}", index_body(has_knn))
    lines = []
    for i, doc in enumerate(DOCS):
        lines += [{"index": {"_id": str(i)}}, doc if has_knn else {k: v for k, v in doc.items() if k != "vec"}]
    _, res = node.call("POST", f"/{INDEX}/_bulk?refresh=true", ndjson=lines)
    assert not res["errors"], res
    yield
    node.call("DELETE", f"/{INDEX}", ok=(200, 404))


def ids(res: dict) -> list[str]:
    return [h["_id"] for h in res["hits"]["hits"]]


def test_modules_loaded(node):
    _, nodes = node.call("GET", "/_nodes/plugins")
    modules = {m["name"] for n in nodes["nodes"].values() for m in n["modules"]}
    assert {"mapper-extras", "lang-painless", "lang-mustache", "analysis-common"} <= modules


def test_custom_analyzer_folds_and_ngrams(node):
    _, res = node.call("POST", f"/{INDEX}/_analyze", {"analyzer": "folded_ngram", "text": "Beyoncé"})
    tokens = {t["token"] for t in res["tokens"]}
    assert {"bey", "once", "nce"} <= tokens and not any("é" in t or "B" in t for t in tokens)
    _, hit = node.call("POST", f"/{INDEX}/_search", {"query": {"match": {"artist": "beyonce"}}})
    assert ids(hit)[0] == "0"


def test_rank_feature_query_orders_by_feature(node):
    body = {"query": {"rank_feature": {"field": "q2e.love_song", "saturation": {"pivot": 2}}}}
    _, res = node.call("POST", f"/{INDEX}/_search", body)
    assert ids(res) == ["0", "1"]


@pytest.mark.usefixtures("needs_knn")
def test_knn_query_lucene_engine(node):
    body = {"size": 2, "query": {"knn": {"vec": {"vector": [0.9, 0.1, 0.0, 0.0], "k": 2}}}}
    _, res = node.call("POST", f"/{INDEX}/_search", body)
    assert ids(res) == ["0", "1"]


def test_msearch(node):
    _, res = node.call("POST", f"/{INDEX}/_msearch", ndjson=[
        {}, {"query": {"match": {"title": "love"}}},
        {}, {"query": {"term": {"genre": "rock"}}}])
    assert [r["hits"]["total"]["value"] for r in res["responses"]] == [2, 1]


def test_search_template_with_tojson(node):
    source = '{"query": {"terms": {"genre": {{#toJson}}genres{{/toJson}} }}}'
    body = {"source": source, "params": {"genres": ["pop", "rock"]}}
    _, res = node.call("POST", f"/{INDEX}/_search/template", body)
    assert sorted(ids(res)) == ["0", "2"]


@pytest.fixture(scope="module")
def ltr_model(node, needs_ltr):
    """A linear model over one feature; skips (before touching _ltr) without the plugin."""
    node.call("PUT", "/_ltr", ok=(200, 400))  # 400: the store already exists
    node.call("DELETE", f"/_ltr/_model/{MODEL}", ok=(200, 404))
    node.call("DELETE", f"/_ltr/_featureset/{FEATURESET}", ok=(200, 404))
    feature = {"name": "title_match", "params": ["keywords"], "template_language": "mustache",
               "template": {"match": {"title": "{{keywords}}"}}}
    node.call("POST", f"/_ltr/_featureset/{FEATURESET}", {"featureset": {"features": [feature]}})
    model = {"name": MODEL, "model": {"type": "model/linear", "definition": {"title_match": 2.0}}}
    node.call("POST", f"/_ltr/_featureset/{FEATURESET}/_createmodel", {"model": model})
    yield MODEL
    node.call("DELETE", f"/_ltr/_model/{MODEL}", ok=(200, 404))
    node.call("DELETE", f"/_ltr/_featureset/{FEATURESET}", ok=(200, 404))


def test_ltr_sltr_rescore(node, ltr_model):
    body = {"query": {"term": {"genre": "country"}}, "rescore": {"window_size": 10, "query": {
        "rescore_query": {"sltr": {"params": {"keywords": "love"}, "model": ltr_model}},
        "query_weight": 0.0, "rescore_query_weight": 1.0}}}
    _, res = node.call("POST", f"/{INDEX}/_search", body)
    _, plain = node.call("POST", f"/{INDEX}/_search", {"query": {"match": {"title": "love"}}})
    score = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}["1"]
    assert ids(res) == ["1"] and res["hits"]["hits"][0]["_score"] == pytest.approx(2.0 * score, rel=1e-4)
