"""What a cluster's modules allow (`Capabilities`) and the one rendering it switches: the index
body, the q2e arm's memory clause and the `q2e_memory` feature. Both memory forms run on the
embedded engine and give the same hits and scores (the cluster side: tests/integration/test_es_path.py)."""

from __future__ import annotations

import numpy as np
import pytest

from es_ltrr.common.schema import CORE_ANALYSIS, MUSIC, Capabilities
from es_ltrr.ops.apply import ApplyError, check_plugins, index_version
from es_ltrr.ranking.ltr import default_featureset, feature_params, log_features
from es_ltrr.retrieval.arms import ARMS, ArmInput
from es_ltrr.retrieval.engines.cluster import ClusterEngine
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.understanding import understand

BARE_ES = Capabilities.of("elasticsearch", {"x-pack-core", "transport-netty4", "ltr"})


def test_capabilities_follow_the_modules_and_the_version():
    assert BARE_ES == Capabilities("sparse_vector", analysis_common=False)
    assert Capabilities.of("elasticsearch", {"mapper-extras", "analysis-common"}) == Capabilities()
    assert Capabilities.of("elasticsearch", set(), (8, 10, 4)).memory is None  # sparse_vector came back in 8.11
    assert Capabilities.of("opensearch", {"analysis-common"}).memory is None
    assert Capabilities().gaps == [] and len(BARE_ES.gaps) == 2


def test_the_index_body_renders_the_memory_and_analysis_it_can():
    full, bare = MUSIC.index_body("elasticsearch"), MUSIC.index_body("elasticsearch", capabilities=BARE_ES)
    assert full["mappings"]["properties"]["q2e"] == {"type": "rank_features"}
    assert bare["mappings"]["properties"]["q2e"] == {"type": "sparse_vector"}
    assert bare["settings"]["analysis"] == CORE_ANALYSIS
    assert {k: v for k, v in bare["mappings"]["properties"].items() if k != "q2e"} == \
        {k: v for k, v in full["mappings"]["properties"].items() if k != "q2e"}
    # a full cluster keeps the version it had; a module installed later is a new version
    assert index_version(MUSIC, "opensearch") == index_version(MUSIC, "opensearch", capabilities=Capabilities())
    assert index_version(MUSIC, "elasticsearch", capabilities=BARE_ES) != index_version(MUSIC, "elasticsearch")
    with pytest.raises(ValueError, match="mapper-extras"):
        MUSIC.index_body("opensearch", capabilities=Capabilities(memory=None))


class Node(ClusterEngine):
    """A node that answers `_nodes/plugins` with `modules`."""

    def __init__(self, flavor: str, modules: set[str], version: str = "8.19.21"):
        super().__init__(client=None, index="music")
        self.flavor = flavor
        self.answer = {"nodes": {"n1": {"version": version, "plugins": [{"name": "ltr"}],
                                        "modules": [{"name": m} for m in modules]}}}

    def _perform(self, method, path, body, params, timeout_s=None):
        assert path == "/_nodes/plugins", path
        return self.answer


def test_apply_refuses_mapper_extras_only_where_nothing_replaces_it():
    assert Node("elasticsearch", set()).capabilities == BARE_ES
    check_plugins(Node("elasticsearch", set()), ltr=True)  # sparse_vector: no error
    with pytest.raises(ApplyError, match="mapper-extras .*Elasticsearch ≥ 8.11"):
        check_plugins(Node("opensearch", {"opensearch-knn", "analysis-common"}), ltr=True)
    with pytest.raises(ApplyError, match="mapper-extras"):
        check_plugins(Node("elasticsearch", set(), "8.10.4"), ltr=True)


def test_both_memory_forms_find_and_score_the_same(small_searcher):
    """The q2e arm's term form (sparse_vector) and its rank_feature form, on the embedded engine."""
    engine = small_searcher.engine
    checked = 0
    for query in ("memories maroon 5", "ed sheeran", "happy songs", "i dont care", "dance pop"):
        u = understand(query, small_searcher.gazetteer)
        bodies = [ARMS["q2e"].render(ArmInput(query, u, memory=memory), 25)
                  for memory in ("rank_features", "sparse_vector")]
        assert "rank_feature" in str(bodies[0]) and "'term'" in str(bodies[1]) and "rank_feature" not in str(bodies[1])
        ranked, terms = engine.msearch(bodies)
        assert [(h["_id"], h["_score"]) for h in ranked["hits"]["hits"]] == \
            [(h["_id"], h["_score"]) for h in terms["hits"]["hits"]]
        checked += len(ranked["hits"]["hits"])
    assert checked > 25


def test_the_q2e_memory_feature_is_the_same_in_both_forms(small_searcher):
    fs = default_featureset()
    query = "memories maroon 5"
    result = small_searcher.search(parse_search_request({"query": query, "k": 20}))
    column = fs.names.index("q2e_memory")
    values = []
    for memory in ("rank_features", "sparse_vector"):
        params = feature_params(query, result.understanding, list(result.candidates), memory=memory)
        assert params["q2e_terms"] is (memory == "sparse_vector") and params["q2e_key"] == "memories_maroon_5"
        values.append(log_features(small_searcher.engine, fs, params, result.ids)[:, column])
    np.testing.assert_array_equal(values[0], values[1])
    assert np.isfinite(values[0]).any()
