"""es-ltrr against the real test nodes, once per flavor: apply, transport, search, degrade, parity.

Uses a slice of the real catalog (the `small_catalog` rows) indexed into both the embedded
engine and the node, under a per-run alias, so the two engines see the same corpus. Set
ES_LTRR_TEST_CLUSTER (OpenSearch) and ES_LTRR_TEST_ES_CLUSTER (Elasticsearch) to the nodes'
URLs (`es-ltrr node start [--distribution elasticsearch]` prints them; scripts/test does both).

The Elasticsearch test node is the integ-test zip: `apply` gives it the music mappings with
core analysis and the Q2E memory as a sparse_vector (`Capabilities`), and the tests its gaps
prevent (stored templates, lexical parity) are skipped by name (`ES_GAPS` in conftest.py); the
rest run on both nodes.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
import pytest

from es_ltrr.common.schema import MUSIC, Field, Schema
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import ApplyError, _alias_target, _ltr_installed, apply, index_version
from es_ltrr.ops.engine_parity import measure
from es_ltrr.ranking import XGBoostRanker
from es_ltrr.ranking.ltr import FeatureSet, LtrModel, default_featureset, feature_params, log_features
from es_ltrr.retrieval.arms import ARMS, ArmInput, render
from es_ltrr.retrieval.engines.cluster import ClusterError
from es_ltrr.retrieval.engines.factory import cluster_engine
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.http import create_app
from es_ltrr.understanding import understand

from ..judgments import grade
from .conftest import ES_GAPS, ES_WORKED_AROUND, MODULES, QUERIES, assert_features_close

pytestmark = pytest.mark.cluster

#: The major version each flavor's test node runs.
MAJOR = {"opensearch": "2", "elasticsearch": "8"}


def _featureset() -> FeatureSet:
    return default_featureset()


# -- the node and apply ----------------------------------------------------------------------


def test_node_is_the_expected_product(engine, flavor, components, gaps):
    nodes = engine.request("GET", "/_nodes/_local")["nodes"]
    assert [n["version"].split(".")[0] for n in nodes.values()] == [MAJOR[flavor]]
    needed = MODULES | ({"opensearch-knn"} if flavor == "opensearch" else set())
    excused = set().union(*(ES_GAPS[name][0] for name in gaps))
    if flavor == "elasticsearch":
        excused |= ES_WORKED_AROUND
    assert needed - excused <= components


def test_apply_says_what_the_node_lacks(engine, components, flavor, node_url):
    """A node without mapper-extras or analysis-common is applied all the same (Elasticsearch:
    the memory as sparse_vector, core analysis) and the plan says so."""
    if {"mapper-extras", "analysis-common"} <= components:
        pytest.skip("this node has mapper-extras and analysis-common")
    fresh = cluster_engine(Settings.load(env={}, cluster_url=node_url, flavor=flavor,
                                         index=f"es-ltrr-dry-{uuid.uuid4().hex[:6]}"))
    lines: list[str] = []
    apply(fresh, MUSIC, [default_featureset()], ltr=False, dry_run=True, say=lines.append)
    create = next(line for line in lines if line.startswith("would create"))
    assert ("q2e as sparse_vector" in create) == ("mapper-extras" not in components), create
    assert ("core analysis" in create) == ("analysis-common" not in components), create


def test_dry_run_changes_nothing(engine, node_url, flavor):
    fresh = cluster_engine(Settings.load(env={}, cluster_url=node_url, flavor=flavor,
                                         index=f"es-ltrr-dry-{uuid.uuid4().hex[:6]}"))
    lines: list[str] = []
    changes = apply(fresh, MUSIC, [default_featureset()], ltr=False, dry_run=True, say=lines.append)
    assert any(c.action == "create" for c in changes)
    assert lines and all(line.startswith("would ") or "unchanged" in line or "skip" in line for line in lines)
    assert fresh.request("HEAD", f"/_alias/{fresh.index_name}") is False


def test_apply_creates_versioned_index_and_is_idempotent(engine, applied, alias, flavor):
    version = f"{alias}-v{index_version(MUSIC, flavor, capabilities=engine.capabilities)}"
    assert engine.request("GET", f"/_alias/{alias}") == {version: {"aliases": {alias: {}}}}
    again = apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert {c.action for c in again} <= {"unchanged", "skip"}


@pytest.mark.skip_on_gap("stored_templates")
def test_templates_are_stored_and_render_like_the_sidecar(engine, applied, alias, flavor):
    """The node's own lang-mustache renders our stored templates exactly as we do."""
    hostile = 'ta"yl}}er \\ {{size}} ☃'
    u = understand("happy songs", _tiny_gazetteer())
    for name in ("lexical", "q2e", "explore", "structured"):
        params = ARMS[name].params(ArmInput(hostile, u, seed=3), 7)
        if params is None:
            continue
        rendered = engine.request("POST", "/_render/template", {"id": f"{alias}-{name}", "params": params})
        assert rendered["template_output"] == render(ARMS[name].template(flavor), params), name


def _tiny_gazetteer():
    from es_ltrr.understanding import Gazetteer

    return Gazetteer.from_entities([{"id": "t", "type": "track", "name": "Happy", "artist": "X", "popularity": 50.0}])


def test_missing_ltr_plugin_is_a_clear_error(engine, applied, components):
    if _ltr_installed(components):
        pytest.skip("this node has the LTR plugin")
    with pytest.raises(ApplyError, match="LTR plugin.*--no-ltr"):
        apply(engine, MUSIC, [default_featureset()], ltr=True, say=lambda _: None)


@pytest.fixture
def concrete(node_url, flavor):
    """An engine whose alias name is taken by a concrete index (deleted afterwards)."""
    name = f"es-ltrr-concrete-{uuid.uuid4().hex[:6]}"
    other = cluster_engine(Settings.load(env={}, cluster_url=node_url, flavor=flavor, index=name))
    other.request("PUT", f"/{name}")
    yield other
    other.request("DELETE", f"/{name}")


def test_concrete_index_under_alias_name_is_refused(engine, concrete):
    with pytest.raises(ApplyError, match="concrete index, not an alias"):
        _alias_target(concrete, concrete.index_name)


def test_apply_refuses_a_concrete_index_under_the_alias_name(engine, concrete):
    with pytest.raises(ApplyError, match="concrete index, not an alias"):
        apply(concrete, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)


def test_concurrent_searches_find_room_in_the_connection_pool(settings, indexed, caplog):
    """Searches on 4 server threads: no "Connection pool is full" (issue 23, item 12)."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from es_ltrr.serving.process import sized_for
    from es_ltrr.serving.wiring import build_searcher

    searcher = build_searcher(sized_for(replace(settings, embed=False), threads=4), say=lambda _: None)
    with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(4) as pool:
        pages = list(pool.map(lambda q: searcher.search(parse_search_request({"query": q})), QUERIES * 2))
    assert all(page.hits for page in pages[:3])
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []


def _indices(engine, pattern: str) -> list[str]:
    rows = engine.request("GET", f"/_cat/indices/{pattern}", params={"format": "json", "h": "index",
                                                                      "expand_wildcards": "all"})
    return [row["index"] for row in rows]


def test_index_before_apply_writes_nothing_and_says_to_apply(engine, node_url, small_catalog, tmp_path):
    """`index` into an alias `apply` never made auto-created a concrete index with dynamic
    mappings, failed on the field limit with 20 ids and no hint, left documents behind and
    then blocked `apply` (issue 23, item 2). Now: refused before anything is read or written."""
    from click.testing import CliRunner

    from es_ltrr.cli import main

    name = f"es-ltrr-forgot-apply-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(main, ["--cluster", node_url, "--index", name, "--catalog", str(small_catalog),
                                       "--data-dir", str(tmp_path / "d"), "--no-embed", "index"])
    assert result.exit_code == 2, result.output
    assert f"no alias {name!r}" in result.stderr and "es-ltrr --cluster URL apply` first" in result.stderr
    assert "loading catalog" not in result.stderr  # said before the catalog is read
    assert _indices(engine, f"{name}*") == [] and not (tmp_path / "d").exists()


def test_index_into_a_concrete_index_under_the_alias_name_is_refused(concrete, node_url, small_catalog, tmp_path):
    from click.testing import CliRunner

    from es_ltrr.cli import main

    before = concrete.request("GET", f"/{concrete.index_name}/_count")["count"]
    result = CliRunner().invoke(main, ["--cluster", node_url, "--index", concrete.index_name, "--catalog",
                                       str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed", "index"])
    assert result.exit_code == 2 and "is a concrete index, not an alias" in result.stderr, result.output
    assert concrete.request("GET", f"/{concrete.index_name}/_count")["count"] == before


def test_schema_change_reindexes_behind_the_alias(engine, indexed, alias, flavor, components):
    """With the reindex module `_reindex`, without it (the Elasticsearch integ-test node) a
    scroll + bulk copy through the sidecar."""
    before = engine.request("GET", f"/{alias}/_count")["count"]
    extended = Schema(fields=MUSIC.fields + (Field("label", "keyword"),))
    changes = apply(engine, extended, [default_featureset()], ltr=False, say=lambda _: None)
    assert [c.action for c in changes][:3] == ["create", "reindex", "swap-alias"]
    assert ("copied by the sidecar" in changes[1].detail) == ("reindex" not in components), changes[1]
    target = f"{alias}-v{index_version(extended, flavor, capabilities=engine.capabilities)}"
    assert list(engine.request("GET", f"/_alias/{alias}")) == [target]
    assert engine.request("GET", f"/{alias}/_count")["count"] == before
    # and back, so later tests see the shipped schema: the old copy is rebuilt from the live
    # documents, not reindexed over (no stale or deleted documents left in its statistics)
    apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert engine.request("GET", f"/{alias}/_count")["count"] == before
    stats = engine.request("GET", f"/{alias}/_stats/docs")["_all"]["primaries"]["docs"]
    assert (stats["count"], stats["deleted"]) == (before, 0), stats


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


def test_index_counts_match(engine, indexed, embedded_searcher, flavor):
    assert engine.health()["docs"] == embedded_searcher.engine.health()["docs"]
    assert engine.health()["flavor"] == flavor


def test_get_returns_sources_by_id(engine, indexed, embedded_searcher):
    ids = embedded_searcher.search(parse_search_request({"query": "ed sheeran"})).ids[:5]
    assert len(ids) == 5
    got = engine.get(ids + ["no-such-id"])
    assert set(got) == set(ids)
    assert all(got[i]["name"] == embedded_searcher.engine.get([i])[i]["name"] for i in ids)


# -- search ----------------------------------------------------------------------------------


def test_search_on_the_cluster_runs_every_arm(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "memories maroon 5", "debug": True}))
    statuses = {arm: result.arm_status(arm) for arm in result.decision.chosen}
    assert statuses["lexical"] == statuses["semantic"] == statuses["explore"] == "ok", result.arm_results
    assert statuses["popular"] == "ok", result.arm_results
    names = [cand.source["name"] for cand, _ in result.hits]
    assert statuses["q2e"] == "ok" and not result.partial, result.arm_results
    assert result.arm_result("q2e").ids, result.arm_results  # the memory answers (sparse_vector on the ES node)
    assert "Memories" in names[0]


def test_semantic_arm_runs_knn(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "songs about summer love", "debug": True}))
    semantic = result.arm_result("semantic")
    assert semantic and not semantic.error, semantic
    assert len(semantic.ids) == semantic.requested == result.decision.allocations["semantic"] > 0, semantic


def test_structured_arm_on_the_cluster(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "happy songs", "k": 10}))
    assert result.arm_status("structured") == "ok", result.arm_results
    assert sum("happy" in (cand.source.get("moods") or []) for cand, _ in result.hits) >= 5


def test_one_bad_body_does_not_fail_the_others(engine, indexed):
    good = {"size": 3, "query": {"match": {"name": "memories"}}}
    responses = engine.msearch([good, {"query": {"no_such_clause": {}}}, good])
    assert "hits" in responses[0] and "hits" in responses[2]
    assert responses[1]["status"] == 400 and "no_such_clause" in responses[1]["error"]["reason"]


def test_unreachable_cluster_degrades_to_flagged_empty_page(cluster_searcher, flavor):
    down = replace(cluster_searcher, engine=cluster_engine(Settings.load(
        env={}, cluster_url="http://127.0.0.1:1", flavor=flavor, timeout_s=1)))
    result = down.search(parse_search_request({"query": "memories"}))
    assert result.partial is True and result.hits == []
    assert {result.arm_status(arm) for arm in result.decision.chosen} <= {"error", "not_applicable"}
    assert any(r.error and "Connection" in r.error for r in result.arm_results)


def test_http_search_on_cluster(cluster_searcher, flavor):
    client = create_app(cluster_searcher).test_client()
    assert client.get("/healthz").get_json()["engine"]["flavor"] == flavor
    body = client.post("/search", json={"query": "ed sheeran", "k": 5}).get_json()
    assert body["hits"] and body["hits"][0]["arms"]


# -- features & parity -----------------------------------------------------------------------


def test_logged_features_match_the_embedded_engine(cluster_searcher, embedded_searcher):
    """The featureset evaluated by the node and by the embedded engine agree (same corpus)."""
    query = "memories maroon 5"
    result = embedded_searcher.search(parse_search_request({"query": query, "k": 20}))
    params = feature_params(query, result.understanding, [cand for cand, _ in result.hits], result.vector,
                            cluster_searcher.engine.flavor, cluster_searcher.engine.capabilities.memory)
    fs = _featureset()
    local = log_features(embedded_searcher.engine, fs, params, result.ids)
    remote = log_features(cluster_searcher.engine, fs, params, result.ids)
    assert_features_close(local, remote, fs.names)


def test_arm_parity(embedded_searcher, cluster_searcher, gaps):
    results = measure(embedded_searcher, cluster_searcher.engine, QUERIES, k=10)
    assert results["lexical"].errors == 0
    compared = {"lexical": "lexical_analysis", "popular": None, "structured": None, "semantic": None, "q2e": None}
    for arm in (arm for arm, gap in compared.items() if gap not in gaps):
        r = results[arm]
        assert r.errors == 0, arm
        if r.overlaps:
            assert r.mean >= 0.8, (arm, r.mean)
    assert results["explore"].errors == 0
    assert results["explore"].same_total >= 0.9  # random order differs by design; the matched set must not


def test_local_xgboost_ranker_on_the_cluster(cluster_searcher, tmp_path):
    """Without the LTR plugin the model scores in the sidecar, features logged by the node.

    Trained on assessor grades (tests/judgments.py), not on one of its own features."""
    import xgboost as xgb

    fs = _featureset()
    xs, ys, groups = [], [], []
    for q in ("ed sheeran", "maroon 5", "the chainsmokers", "remix"):
        result = cluster_searcher.search(parse_search_request({"query": q, "k": 50}))
        cands = list(result.candidates)
        params = feature_params(q, result.understanding, cands, result.vector, cluster_searcher.engine.flavor,
                                cluster_searcher.engine.capabilities.memory)
        feats = log_features(cluster_searcher.engine, fs, params, [c.id for c in cands])
        xs.append(feats)
        ys.append([grade(q, c.source) for c in cands])
        groups.append(len(feats))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:ndcg", "base_score": 0.0, "max_depth": 3, "seed": 1}, dtrain, 20)
    LtrModel(booster, fs, "it").save(tmp_path / "it")
    searcher = replace(cluster_searcher, ranker=XGBoostRanker(LtrModel.load(tmp_path / "it", fs)))
    result = searcher.search(parse_search_request({"query": "maroon 5", "k": 5}))
    assert result.ranker == "xgboost:it"
    top, _ = result.hits[0]
    assert grade("maroon 5", top.source) == 2, top.source


def test_parity_command(node_url, flavor, alias, small_catalog, indexed, gaps, tmp_path):
    from click.testing import CliRunner

    from es_ltrr.cli import main

    result = CliRunner().invoke(main, [
        "--catalog", str(small_catalog), "--data-dir", str(tmp_path), "--cluster", node_url,
        "--flavor", flavor, "--index", alias, "parity", "--queries", "15"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    assert set(rows) == set(ARMS)
    if "lexical_analysis" not in gaps:
        assert float(rows["lexical"][3]) >= 0.8
