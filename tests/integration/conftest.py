"""Fixtures of the integration suite, which runs once per flavor of test node.

`flavor` (module-scoped, params opensearch/elasticsearch) gives the node's URL, `settings`
(flavor, a per-run alias, the small catalog), the `engine`, and the node's known `gaps`.
A test that a gap prevents carries `@pytest.mark.skip_on_gap("name", ...)` and is skipped
with the gap's reason; the gaps are explicit here, not guessed from failures.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from es_ltrr.common.schema import MUSIC, Capabilities
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import apply, installed_components
from es_ltrr.ranking.ltr import default_featureset
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.engines.cluster import ClusterError
from es_ltrr.retrieval.engines.factory import cluster_engine

FLAVORS = ["opensearch", "elasticsearch"]

#: Modules es-ltrr's schema and `apply` use besides the server (OpenSearch also its k-NN plugin).
MODULES = frozenset({"mapper-extras", "lang-mustache", "analysis-common", "reindex"})

#: Modules an Elasticsearch node may lack with no loss of function: without mapper-extras the
#: Q2E memory is a sparse_vector (`Capabilities`), without reindex `apply` copies through the
#: sidecar (`es_ltrr.ops.apply.copy_documents`).
ES_WORKED_AROUND = frozenset({"mapper-extras", "reindex"})

#: The Elasticsearch test node's known gaps: name -> (modules whose absence makes it, reason).
#: Its integ-test zip, the only 8.x distribution on Maven Central, has none of MODULES and
#: Elastic publishes no 8.x artifacts of them; `apply` works there all the same (core
#: analysis, the memory as sparse_vector). Pointed at a full distribution
#: (ES_LTRR_TEST_ES_CLUSTER, e.g. `docker compose --profile elasticsearch`) it has no gaps.
ES_GAPS: dict[str, tuple[frozenset[str], str]] = {
    "stored_templates": (frozenset({"lang-mustache"}), "stored search templates need lang-mustache"),
    "lexical_analysis": (frozenset({"analysis-common"}), "without folding and trigram sub-fields the "
                         "lexical arm is not the query the embedded engine runs"),
}

#: Queries for parity and search checks on the small catalog slice.
QUERIES = [
    "memories maroon 5", "ed sheeran", "dance pop", "happy songs", "remix", "i dont care",
    "pop remix", "loud luxury", "love", "summer", "electro house", "the chainsmokers",
    "sad songs", "tropical", "dance", "justin bieber", "party", "edm", "bad", "night",
]


def delete_indices(engine, pattern: str) -> None:
    """Delete the indices matching `pattern` by name (Elasticsearch 8 refuses wildcard deletes)."""
    rows = engine.request("GET", f"/_cat/indices/{pattern}", params={"format": "json", "h": "index",
                                                                      "expand_wildcards": "all"})
    names = [row["index"] for row in rows]
    if names:
        engine.request("DELETE", "/" + ",".join(names))


@pytest.fixture(scope="module", params=FLAVORS)
def flavor(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def node_url(flavor, request) -> str:
    """The flavor's test node (skipped without one, failed under ES_LTRR_REQUIRE_CLUSTER)."""
    return request.getfixturevalue("cluster_url" if flavor == "opensearch" else "es_url")


@pytest.fixture(scope="module")
def alias(flavor) -> str:
    return f"es-ltrr-it-{flavor[:2]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings(node_url, flavor, alias, small_catalog, tmp_path_factory) -> Settings:
    return Settings.load(env={}, cluster_url=node_url, flavor=flavor, index=alias,
                         catalog=small_catalog, data_dir=tmp_path_factory.mktemp(flavor))


@pytest.fixture(scope="module")
def engine(settings):
    """The module's cluster engine; removes its indices and stored templates afterwards."""
    engine = cluster_engine(settings)
    yield engine
    delete_indices(engine, f"{settings.index}-*")
    for name in ARMS:
        try:
            engine.request("DELETE", f"/_scripts/{settings.index}-{name}")
        except ClusterError:  # never stored (no lang-mustache, or a test failed before apply)
            pass


@pytest.fixture(scope="module")
def components(engine) -> set[str]:
    return installed_components(engine)


@pytest.fixture(scope="module")
def gaps(flavor, components) -> dict[str, str]:
    """The node's known gaps (name -> reason); an OpenSearch node must have none."""
    if flavor != "elasticsearch":
        return {}
    return {name: reason for name, (needs, reason) in ES_GAPS.items() if not needs <= components}


@pytest.fixture(autouse=True)
def _skip_on_known_gaps(request) -> None:
    marker = request.node.get_closest_marker("skip_on_gap")
    if marker is None:
        return
    unknown = set(marker.args) - set(ES_GAPS)
    assert not unknown, f"skip_on_gap names unknown gaps {unknown}"
    gaps = request.getfixturevalue("gaps")
    for name in marker.args:
        if name in gaps:
            pytest.skip(f"known gap {name!r} of this {request.getfixturevalue('flavor')} node: {gaps[name]}")


def core_index_body() -> dict:
    """The music index an Elasticsearch server without modules gets from `apply`: core
    analysis, the Q2E memory as sparse_vector (`Capabilities` of a bare integ-test zip)."""
    return MUSIC.index_body("elasticsearch", capabilities=Capabilities.of("elasticsearch", set()))


@pytest.fixture(scope="module")
def applied(engine, alias):
    """The index behind the alias: `apply` of the music schema (with what the node offers)."""
    return apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)


@pytest.fixture(scope="module")
def indexed(settings, applied):
    """The catalog slice indexed behind the alias, merged into one segment: Lucene builds the
    kNN graph per segment, and how documents fall into segments depends on refresh timing
    (machine load), so without the merge the semantic arm's hits, and every quality figure
    downstream, could differ from run to run."""
    from es_ltrr.retrieval.embedding import Encoder
    from es_ltrr.retrieval.indexing import build_index

    engine = build_index(settings, Encoder.for_settings(settings), say=lambda _: None)
    engine.request("POST", f"/{settings.index}/_forcemerge", params={"max_num_segments": 1})
    engine.request("POST", f"/{settings.index}/_refresh")
    return engine


@pytest.fixture(scope="module")
def cluster_searcher(settings, indexed):
    from es_ltrr.serving.wiring import build_searcher

    return build_searcher(settings, say=lambda _: None)


@pytest.fixture(scope="module")
def embedded_searcher(settings, tmp_path_factory):
    """The same catalog slice on the embedded engine, for parity."""
    from es_ltrr.serving.wiring import build_searcher

    local = replace(settings, cluster_url=None, data_dir=tmp_path_factory.mktemp("embedded"))
    return build_searcher(local, say=lambda _: None)


#: Lucene sums a fuzzy term's expansions, the embedded engine takes the best one: these
#: features are compared as matched-or-not only (docs/cluster.md).
FUZZY_FEATURES = ("name_fuzzy", "artist_fuzzy")


def assert_features_close(local, remote, names) -> None:
    """Logged feature matrices of the embedded engine and a node agree: the same features
    match (NaN where not) and values are within 2 %, fuzzy features matched-or-not only."""
    import numpy as np

    for j, name in enumerate(names):
        assert np.array_equal(np.isnan(local[:, j]), np.isnan(remote[:, j])), name
        if name not in FUZZY_FEATURES:
            np.testing.assert_allclose(local[:, j], remote[:, j], rtol=0.02, atol=1e-3, err_msg=name)
