"""ClusterEngine.index and .update against both real test nodes (OpenSearch, Elasticsearch).

Each test gets a throwaway index behind an alias (as `es-ltrr apply` sets it up) with a small
strict mapping, deleted afterwards. `rank_features` needs mapper-extras, which the
Elasticsearch integ-test node lacks: those checks skip there with that reason.
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from es_ltrr.ops.apply import installed_components
from es_ltrr.retrieval.engines import ClusterEngine, ClusterError, DocumentMissing, EngineError
from es_ltrr.retrieval.engines.clients import ElasticsearchEngine, OpenSearchEngine

pytestmark = pytest.mark.cluster

NODES = {"opensearch": ("cluster_url", OpenSearchEngine),
         "elasticsearch": ("es_url", ElasticsearchEngine)}

DOCS = [
    {"id": "a", "name": "Love Story", "popularity": 80.0},
    {"id": "b", "name": "Summer Night", "popularity": 60.0},
    {"id": "c", "name": "Blue Monday", "popularity": 40.0},
]


@pytest.fixture(params=sorted(NODES))
def engine(request) -> Iterator[ClusterEngine]:
    """An engine on a fresh `<alias>-v1` index behind `<alias>`; both deleted afterwards."""
    fixture, cls = NODES[request.param]
    alias = f"es-ltrr-upd-{uuid.uuid4().hex[:8]}"
    engine = cls(request.getfixturevalue(fixture), alias)
    properties = {"id": {"type": "keyword"}, "name": {"type": "text"},
                  "popularity": {"type": "float"}}
    if "mapper-extras" in installed_components(engine):
        properties["q2e"] = {"type": "rank_features"}
    engine.request("PUT", f"/{alias}-v1", {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"dynamic": "strict", "properties": properties},
        "aliases": {alias: {}}})
    yield engine
    engine.request("DELETE", f"/{alias}-v1")


def _has_q2e(engine: ClusterEngine) -> bool:
    mapping = engine.request("GET", f"/{engine.index_name}/_mapping")
    return all("q2e" in m["mappings"]["properties"] for m in mapping.values())


def _ids(engine: ClusterEngine, query: dict) -> list[str]:
    (response,) = engine.msearch([{"query": query, "size": 100}])
    assert "error" not in response, response
    return [hit["_id"] for hit in response["hits"]["hits"]]


def test_index_replaces_the_corpus(engine):
    assert engine.index(DOCS) == 3
    assert engine.index([{**DOCS[0], "name": "Love Song"}, DOCS[1]]) == 2
    assert set(engine.get(["a", "b", "c"])) == {"a", "b"}  # c was not in this run
    assert engine.health()["docs"] == 2
    assert sorted(_ids(engine, {"match_all": {}})) == ["a", "b"]
    assert _ids(engine, {"match": {"name": "song"}}) == ["a"]
    assert engine.index([]) == 0
    assert _ids(engine, {"match_all": {}}) == []


def test_update_changes_the_document_and_the_next_search_sees_it(engine):
    engine.index(DOCS)
    assert engine.update({"b": {"name": "Love Night"}, "c": {"popularity": 99.0}}) == 2
    assert engine.get(["b"])["b"] == {"id": "b", "name": "Love Night", "popularity": 60.0}
    assert sorted(_ids(engine, {"match": {"name": "love"}})) == ["a", "b"]
    assert _ids(engine, {"range": {"popularity": {"gte": 90}}}) == ["c"]
    assert engine.update({}) == 0


def test_update_replaces_objects_whole(engine):
    """Elasticsearch merges `doc` objects key by key; a Q2E memory must be able to drop keys."""
    if not _has_q2e(engine):
        pytest.skip("no mapper-extras on this node (Elasticsearch integ-test zip): no rank_features")
    engine.index([{**DOCS[0], "q2e": {"love": 2.0, "story": 1.0}}, DOCS[1]])
    engine.update({"a": {"q2e": {"night": 3.0}}, "b": {"q2e": {"night": 1.0}}})
    assert engine.get(["a"])["a"]["q2e"] == {"night": 3.0}
    assert _ids(engine, {"rank_feature": {"field": "q2e.night"}}) == ["a", "b"]
    assert _ids(engine, {"rank_feature": {"field": "q2e.love"}}) == []


def test_update_errors_name_the_documents_and_apply_nothing(engine):
    engine.index(DOCS)
    with pytest.raises(DocumentMissing, match="'zz'"):
        engine.update({"a": {"name": "Changed"}, "zz": {"name": "Nowhere"}})
    with pytest.raises(EngineError, match="not in the mapping.*colour"):
        engine.update({"a": {"name": "Changed"}, "b": {"colour": "red"}})
    with pytest.raises(ClusterError, match="'c'"):  # rejected by the node: not a number
        engine.update({"c": {"popularity": "many"}})
    assert engine.get(["a"])["a"]["name"] == "Love Story"
