"""Smoke checks of the real nodes that `es_ltrr.ops.devnode` assembles from Maven artifacts.

They prove that the pieces the project relies on are really there: the rebuilt modules
(rank_features, analysis-common filters/tokenizers, mustache search templates), k-NN with the
Lucene engine, and the LTR plugin built from the vendored source (name and version as the
build names them; feature store, featureset, model, sltr rescore) on OpenSearch and on
Elasticsearch. Start the nodes (`es-ltrr node start [--distribution elasticsearch]`) and set
ES_LTRR_TEST_CLUSTER / ES_LTRR_TEST_ES_CLUSTER; nothing here touches the network before a test
asks for a node fixture. Under ES_LTRR_REQUIRE_CLUSTER a missing LTR plugin fails, not skips.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from es_ltrr.ops.devnode import DISTRIBUTIONS
from es_ltrr.ops.devnode.ltr_recipes import RECIPES

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
        return set(self.plugin_versions())

    def plugin_versions(self) -> dict[str, str]:
        return {p["component"]: p["version"] for p in self.call("GET", "/_cat/plugins?format=json")[1]}


def require_ltr(node: Node, distribution: str) -> None:
    """Skip without the LTR plugin, or fail when ES_LTRR_REQUIRE_CLUSTER says the run needs it."""
    name = RECIPES[distribution].name
    if name not in node.plugins():
        message = (f"{name} plugin not installed on {node.url} (`es-ltrr node start` builds it from "
                   "../shared/vendor unless --no-ltr; or see ES_LTRR_LTR_ZIP / ES_LTRR_ES_LTR_ZIP)")
        if os.environ.get("ES_LTRR_REQUIRE_CLUSTER"):
            pytest.fail(message)
        pytest.skip(message)


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
    require_ltr(node, "opensearch")


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


def test_ltr_plugin_is_the_one_the_node_build_makes(node, needs_ltr):
    version = DISTRIBUTIONS["opensearch"].version
    assert node.plugin_versions()["opensearch-ltr"] == RECIPES["opensearch"].version(version) == "2.19.6.0"


def create_linear_model(node: Node, featureset: str, model: str) -> None:
    """A feature store, a one-feature featureset (match title) and a linear model (2 × it)."""
    node.call("PUT", "/_ltr", ok=(200, 400))  # 400: the store already exists
    drop_linear_model(node, featureset, model)
    feature = {"name": "title_match", "params": ["keywords"], "template_language": "mustache",
               "template": {"match": {"title": "{{keywords}}"}}}
    node.call("POST", f"/_ltr/_featureset/{featureset}", {"featureset": {"features": [feature]}})
    body = {"name": model, "model": {"type": "model/linear", "definition": {"title_match": 2.0}}}
    node.call("POST", f"/_ltr/_featureset/{featureset}/_createmodel", {"model": body})


def drop_linear_model(node: Node, featureset: str, model: str) -> None:
    node.call("DELETE", f"/_ltr/_model/{model}", ok=(200, 404))
    node.call("DELETE", f"/_ltr/_featureset/{featureset}", ok=(200, 404))


@pytest.fixture(scope="module")
def ltr_model(node, needs_ltr):
    """A linear model over one feature; skips (before touching _ltr) without the plugin."""
    create_linear_model(node, FEATURESET, MODEL)
    yield MODEL
    drop_linear_model(node, FEATURESET, MODEL)


def assert_sltr_rescores(node: Node, index: str, model: str) -> None:
    """Rescoring with the linear model gives 2 × the title match score of the one country song."""
    body = {"query": {"term": {"genre": "country"}}, "rescore": {"window_size": 10, "query": {
        "rescore_query": {"sltr": {"params": {"keywords": "love"}, "model": model}},
        "query_weight": 0.0, "rescore_query_weight": 1.0}}}
    _, res = node.call("POST", f"/{index}/_search", body)
    _, plain = node.call("POST", f"/{index}/_search", {"query": {"match": {"title": "love"}}})
    score = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}["1"]
    assert ids(res) == ["1"] and res["hits"]["hits"][0]["_score"] == pytest.approx(2.0 * score, rel=1e-4)


def test_ltr_sltr_rescore(node, ltr_model):
    assert_sltr_rescores(node, INDEX, ltr_model)


@pytest.fixture(scope="module")
def es_node(es_url) -> Node:
    """The Elasticsearch test node with a tiny index (core field types only: that node has no
    mapper-extras) and the linear model; skips or fails (REQUIRE_CLUSTER) without the plugin."""
    es = Node(es_url.rstrip("/"))
    require_ltr(es, "elasticsearch")
    es.call("DELETE", f"/{INDEX}", ok=(200, 404))
    props = {"title": {"type": "text"}, "genre": {"type": "keyword"}}
    es.call("PUT", f"/{INDEX}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                 "mappings": {"properties": props}})
    lines = []
    for i, doc in enumerate(DOCS):
        lines += [{"index": {"_id": str(i)}}, {k: doc[k] for k in props}]
    es.call("POST", f"/{INDEX}/_bulk?refresh=true", ndjson=lines)
    create_linear_model(es, FEATURESET, MODEL)
    yield es
    drop_linear_model(es, FEATURESET, MODEL)
    es.call("DELETE", f"/{INDEX}", ok=(200, 404))


def test_elasticsearch_ltr_plugin_is_the_one_the_node_build_makes(es_node):
    version = DISTRIBUTIONS["elasticsearch"].version
    assert es_node.plugin_versions()["ltr"] == RECIPES["elasticsearch"].version(version) == "1.5.10-es8.19.21"


def test_elasticsearch_sltr_rescore(es_node):
    assert_sltr_rescores(es_node, INDEX, MODEL)
