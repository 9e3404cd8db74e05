"""es-ltrr against a real Elasticsearch 8 node: apply, index, search, degrade, parity.

The Elasticsearch twin of test_cluster.py. Set ES_LTRR_TEST_ES_CLUSTER to the node's URL
(`es-ltrr node start --distribution elasticsearch` prints it; scripts/test does both).

That node is Elasticsearch's integ-test zip, the only 8.x distribution on Maven Central: it
has no mapper-extras (rank_features), lang-mustache, analysis-common (asciifolding, ngram) or
reindex, and Elastic publishes no 8.x artifacts of them. So the index behind the alias is
created one of two ways:

* a node with those modules (a full distribution, e.g. `docker compose --profile
  elasticsearch`): `es-ltrr apply` with the music schema, and every test runs;
* the integ-test node: the same mappings with core-only analysis (standard tokenizer +
  lowercase, no folding, no trigrams) and `q2e` stored but not indexed. The engine-level tests
  (transport, _msearch with a failing body, _bulk, _mget, aliases, HEAD, error statuses,
  dense_vector kNN through the semantic arm, feature logging, parity) run; the q2e arm is an
  error item (no `rank_feature` query) and the apply/template/reindex tests skip.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
import pytest

from es_ltrr.api import parse_search_request
from es_ltrr.apply import ApplyError, _alias_target, apply, index_version, installed_components
from es_ltrr.arms import ARMS, ArmInput, render
from es_ltrr.config import Settings
from es_ltrr.engines.cluster import ClusterError
from es_ltrr.engines.factory import cluster_engine
from es_ltrr.parity import measure
from es_ltrr.ranking import default_featureset, log_features
from es_ltrr.schema import MUSIC, Field, Schema
from es_ltrr.server import create_app
from es_ltrr.understanding import understand

from .conftest import QUERIES

pytestmark = pytest.mark.cluster

#: Modules es-ltrr's schema and `apply` need besides the Elasticsearch server itself.
MODULES = {"mapper-extras", "lang-mustache", "analysis-common", "reindex"}


@pytest.fixture(scope="module")
def alias() -> str:
    return f"es-ltrr-esit-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings(es_url, alias, small_catalog, tmp_path_factory) -> Settings:
    return Settings.load(env={}, cluster_url=es_url, flavor="elasticsearch", index=alias,
                         catalog=small_catalog, data_dir=tmp_path_factory.mktemp("es"))


@pytest.fixture(scope="module")
def components(engine) -> set[str]:
    return installed_components(engine)


@pytest.fixture(scope="module")
def full(components) -> bool:
    """True on a node with every module es-ltrr needs (a full distribution)."""
    return MODULES <= components


@pytest.fixture
def needs_modules(components):
    missing = sorted(MODULES - components)
    if missing:
        pytest.skip(f"this Elasticsearch lacks {', '.join(missing)} (the integ-test zip has none and Maven "
                    "Central has no 8.x artifacts of them): point ES_LTRR_TEST_ES_CLUSTER at a full "
                    "distribution, e.g. `docker compose --profile elasticsearch`")


def core_index_body() -> dict:
    """The music mappings with analysis the bare server has and `q2e` stored, not indexed."""
    body = MUSIC.index_body("elasticsearch")
    plain = {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}
    body["settings"]["analysis"] = {"analyzer": {"ltrr_text": plain, "ltrr_trigram": plain},
                                    "normalizer": {"ltrr_norm": {"type": "custom", "filter": ["lowercase"]}}}
    body["mappings"]["properties"]["q2e"] = {"type": "object", "enabled": False}
    return body


@pytest.fixture(scope="module")
def applied(engine, full, alias):
    """The index behind the alias: `apply` on a full node, the core-only twin otherwise."""
    if full:
        return apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    engine.request("PUT", f"/{alias}-core", core_index_body())
    engine.request("POST", "/_aliases", {"actions": [{"add": {"index": f"{alias}-core", "alias": alias}}]})
    return None


# -- the node and apply ----------------------------------------------------------------------


def test_node_is_elasticsearch_8(engine):
    nodes = engine.request("GET", "/_nodes/_local")["nodes"]
    assert [n["version"].split(".")[0] for n in nodes.values()] == ["8"]


def test_apply_names_the_missing_modules(engine, components):
    if "mapper-extras" in components:
        pytest.skip("this node has mapper-extras")
    with pytest.raises(ApplyError, match="mapper-extras"):
        apply(engine, MUSIC, [default_featureset()], ltr=False, dry_run=True, say=lambda _: None)


def test_dry_run_changes_nothing(es_url, needs_modules):
    fresh = cluster_engine(Settings.load(env={}, cluster_url=es_url, flavor="elasticsearch",
                                         index=f"es-ltrr-dry-{uuid.uuid4().hex[:6]}"))
    lines: list[str] = []
    changes = apply(fresh, MUSIC, [default_featureset()], ltr=False, dry_run=True, say=lines.append)
    assert any(c.action == "create" for c in changes)
    assert all(line.startswith("would ") or "unchanged" in line or "skip" in line for line in lines)
    assert fresh.request("HEAD", f"/_alias/{fresh.index_name}") is False


def test_apply_creates_versioned_index_and_is_idempotent(engine, applied, alias, needs_modules):
    version = f"{alias}-v{index_version(MUSIC, 'elasticsearch')}"
    assert engine.request("GET", f"/_alias/{alias}") == {version: {"aliases": {alias: {}}}}
    again = apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert {c.action for c in again} <= {"unchanged", "skip"}


def test_templates_are_stored_and_render_like_the_sidecar(engine, applied, alias, needs_modules):
    """The node's own lang-mustache renders our stored templates exactly as we do."""
    hostile = 'ta"yl}}er \\ {{size}} ☃'
    u = understand("happy songs", _tiny_gazetteer())
    for name in ("lexical", "q2e", "explore", "structured"):
        params = ARMS[name].params(ArmInput(hostile, u, seed=3), 7)
        if params is None:
            continue
        rendered = engine.request("POST", "/_render/template", {"id": f"{alias}-{name}", "params": params})
        assert rendered["template_output"] == render(ARMS[name].template("elasticsearch"), params), name


def _tiny_gazetteer():
    from es_ltrr.understanding import Gazetteer

    return Gazetteer.from_entities([{"id": "t", "type": "track", "name": "Happy", "artist": "X", "popularity": 50.0}])


def test_concrete_index_under_alias_name_is_refused(es_url):
    name = f"es-ltrr-concrete-{uuid.uuid4().hex[:6]}"
    other = cluster_engine(Settings.load(env={}, cluster_url=es_url, flavor="elasticsearch", index=name))
    other.request("PUT", f"/{name}")
    try:
        with pytest.raises(ApplyError, match="concrete index, not an alias"):
            _alias_target(other, name)
    finally:
        other.request("DELETE", f"/{name}")


def test_schema_change_reindexes_behind_the_alias(engine, indexed, alias, needs_modules):
    before = engine.request("GET", f"/{alias}/_count")["count"]
    extended = Schema(fields=MUSIC.fields + (Field("label", "keyword"),))
    changes = apply(engine, extended, [default_featureset()], ltr=False, say=lambda _: None)
    assert [c.action for c in changes][:3] == ["create", "reindex", "swap-alias"]
    target = f"{alias}-v{index_version(extended, 'elasticsearch')}"
    assert list(engine.request("GET", f"/_alias/{alias}")) == [target]
    assert engine.request("GET", f"/{alias}/_count")["count"] == before
    apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert engine.request("GET", f"/{alias}/_count")["count"] == before


# -- transport -------------------------------------------------------------------------------


def test_head_alias_and_missing_things(engine, applied, alias):
    assert engine.request("HEAD", f"/{alias}") is True
    assert engine.request("HEAD", f"/_alias/{alias}") is True
    assert engine.request("HEAD", f"/{alias}-no-such-index") is False
    assert _alias_target(engine, alias).startswith(f"{alias}-")
    assert _alias_target(engine, f"{alias}-no-such-alias") is None


def test_error_answers_keep_their_status_and_the_breaker_closed(engine, indexed, alias):
    for _ in range(engine.breaker.threshold + 1):
        with pytest.raises(ClusterError) as info:
            engine.request("GET", f"/{alias}-no-such-index/_doc/x")
        assert info.value.status == 404 and "no such index" in str(info.value)
    with pytest.raises(ClusterError) as info:
        engine.request("POST", f"/{alias}/_search", {"query": {"no_such_clause": {}}})
    assert info.value.status == 400
    assert engine.breaker.failures == 0 and engine.breaker.opened_at is None


def test_index_counts_match(engine, indexed, embedded_searcher):
    assert engine.health()["docs"] == embedded_searcher.engine.health()["docs"]
    assert engine.health()["flavor"] == "elasticsearch"


def test_get_returns_sources_by_id(engine, indexed, embedded_searcher):
    ids = [h["id"] for h in embedded_searcher.search(parse_search_request({"query": "ed sheeran"}))["hits"]][:5]
    got = engine.get(ids + ["no-such-id"])
    assert set(got) == set(ids)
    assert all(got[i]["name"] == embedded_searcher.engine.get([i])[i]["name"] for i in ids)


# -- search ----------------------------------------------------------------------------------


def test_search_on_the_cluster_runs_every_arm(cluster_searcher, full):
    result = cluster_searcher.search(parse_search_request({"query": "memories maroon 5", "debug": True}))
    statuses = {a["arm"]: a["status"] for a in result["arms"]}
    assert statuses["lexical"] == statuses["semantic"] == statuses["explore"] == "ok", result["arms"]
    assert statuses["popular"] == "ok", result["arms"]
    if full:
        assert statuses["q2e"] == "ok" and not result["partial"], result["arms"]
        assert "Memories" in result["hits"][0]["name"]
    else:  # no rank_feature query on this node: the arm degrades, the page does not
        q2e = next(a for a in result["arms"] if a["arm"] == "q2e")
        assert q2e["status"] == "error" and "unknown query [rank_feature]" in q2e["error"], q2e
        assert result["partial"] is True
        assert any("Memories" in h["name"] for h in result["hits"][:3])  # without Q2E's vote the artist leads


def test_semantic_arm_is_knn_on_dense_vector(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "songs about summer love", "debug": True}))
    semantic = next(a for a in result["arms"] if a["arm"] == "semantic")
    assert semantic["status"] == "ok" and semantic["returned"] == semantic["requested"] > 0, semantic


def test_structured_arm_on_the_cluster(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "happy songs", "k": 10}))
    statuses = {a["arm"]: a["status"] for a in result["arms"]}
    assert statuses.get("structured") == "ok", result["arms"]
    assert sum("happy" in (h.get("moods") or []) for h in result["hits"]) >= 5


def test_one_bad_body_does_not_fail_the_others(engine, indexed):
    good = {"size": 3, "query": {"match": {"name": "memories"}}}
    responses = engine.msearch([good, {"query": {"no_such_clause": {}}}, good])
    assert "hits" in responses[0] and "hits" in responses[2]
    assert responses[1]["status"] == 400 and "no_such_clause" in responses[1]["error"]["reason"]


def test_unreachable_cluster_degrades_to_flagged_empty_page(cluster_searcher):
    down = replace(cluster_searcher, engine=cluster_engine(Settings.load(
        env={}, cluster_url="http://127.0.0.1:1", flavor="elasticsearch", timeout_s=1)))
    result = down.search(parse_search_request({"query": "memories"}))
    assert result["partial"] is True and result["hits"] == []
    assert {a["status"] for a in result["arms"]} <= {"error", "not_applicable"}
    assert any(a["status"] == "error" and "Connection" in a["error"] for a in result["arms"])


def test_http_search_on_cluster(cluster_searcher):
    client = create_app(cluster_searcher).test_client()
    assert client.get("/healthz").get_json()["engine"]["flavor"] == "elasticsearch"
    body = client.post("/search", json={"query": "ed sheeran", "k": 5}).get_json()
    assert body["hits"] and body["hits"][0]["arms"]


# -- features & parity -----------------------------------------------------------------------


def test_logged_features_match_the_embedded_engine(cluster_searcher, embedded_searcher, full):
    """The featureset evaluated by the node and by the embedded engine agree (same corpus)."""
    from es_ltrr.ranking import feature_params
    from es_ltrr.union import Candidate, Provenance

    query = "memories maroon 5"
    result = embedded_searcher.search(parse_search_request({"query": query, "k": 20}))
    ids = [h["id"] for h in result["hits"]]
    cands = [Candidate(h["id"], {}, [Provenance(a["arm"], a["rank"], a["score"]) for a in h["arms"]]) for h in result["hits"]]
    params = feature_params(query, understand(query, embedded_searcher.gazetteer), cands)
    fs = default_featureset()
    if not full:  # rank_feature does not exist on this node
        fs = replace(fs, features=tuple(f for f in fs.features if f.name != "q2e_memory"))
    local = log_features(embedded_searcher.engine, fs, params, ids)
    remote = log_features(cluster_searcher.engine, fs, params, ids)
    for j, name in enumerate(fs.names):
        if name in ("name_fuzzy", "artist_fuzzy"):  # Lucene sums fuzzy expansions; we take the max
            assert np.array_equal(local[:, j] > 0, remote[:, j] > 0), name
            continue
        np.testing.assert_allclose(local[:, j], remote[:, j], rtol=0.02, atol=1e-3, err_msg=name)


def test_arm_parity(embedded_searcher, cluster_searcher, full):
    """On the core-only node lexical is left out: without trigram sub-fields and folding it
    is not the query the embedded engine runs (it still has no errors)."""
    results = measure(embedded_searcher, cluster_searcher.engine, QUERIES, k=10)
    assert results["lexical"].errors == 0
    for arm in ("popular", "structured", "semantic") + (("lexical", "q2e") if full else ()):
        r = results[arm]
        assert r.errors == 0, arm
        if r.overlaps:
            assert r.mean >= 0.8, (arm, r.mean)
    if not full:
        assert results["q2e"].errors == len(QUERIES)
    assert results["explore"].errors == 0
    assert results["explore"].same_total >= 0.9  # random order differs by design; the matched set must not
