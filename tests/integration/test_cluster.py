"""es-ltrr against the real OpenSearch node: apply, index, search, degrade, parity.

Uses a slice of the real catalog (the `small_catalog` rows) indexed into both the embedded
engine and the node, under a per-run alias, so the two engines see the same corpus.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
import pytest

from es_ltrr.api import parse_search_request
from es_ltrr.apply import ApplyError, apply, index_version, installed_components
from es_ltrr.arms import ARMS, ArmInput, render
from es_ltrr.config import Settings
from es_ltrr.engines.factory import cluster_engine
from es_ltrr.parity import measure
from es_ltrr.ranking import default_featureset, log_features
from es_ltrr.schema import MUSIC, Field, Schema
from es_ltrr.server import create_app
from es_ltrr.understanding import understand

from .conftest import QUERIES

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def alias() -> str:
    return f"es-ltrr-it-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings(cluster_url, alias, small_catalog, tmp_path_factory) -> Settings:
    return Settings.load(env={}, cluster_url=cluster_url, flavor="opensearch", index=alias,
                         catalog=small_catalog, data_dir=tmp_path_factory.mktemp("cluster"))


def _has_alias(engine, alias) -> bool:
    return engine.request("HEAD", f"/_alias/{alias}") is True


@pytest.fixture(scope="module")
def applied(engine):
    return apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)


# -- apply -----------------------------------------------------------------------------------


def test_node_has_the_modules_es_ltrr_needs(engine):
    assert {"mapper-extras", "lang-mustache", "analysis-common", "reindex", "opensearch-knn"} <= installed_components(engine)


def test_dry_run_changes_nothing(cluster_url):
    fresh = cluster_engine(Settings.load(env={}, cluster_url=cluster_url, index=f"es-ltrr-dry-{uuid.uuid4().hex[:6]}"))
    lines: list[str] = []
    changes = apply(fresh, MUSIC, [default_featureset()], ltr=False, dry_run=True, say=lines.append)
    assert any(c.action == "create" for c in changes)
    assert all(line.startswith("would ") or "unchanged" in line or "skip" in line for line in lines)
    assert not _has_alias(fresh, fresh.index_name)


def test_apply_creates_versioned_index_and_is_idempotent(engine, applied, alias):
    version = f"{alias}-v{index_version(MUSIC, 'opensearch')}"
    assert engine.request("GET", f"/_alias/{alias}") == {version: {"aliases": {alias: {}}}}
    again = apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert {c.action for c in again} <= {"unchanged", "skip"}


def test_templates_are_stored_and_render_like_the_sidecar(engine, applied, alias):
    """The node's own lang-mustache renders our stored templates exactly as we do."""
    hostile = 'ta"yl}}er \\ {{size}} ☃'
    u = understand("happy songs", _tiny_gazetteer())
    for name in ("lexical", "q2e", "explore", "structured"):
        params = ARMS[name].params(ArmInput(hostile, u, seed=3), 7)
        if params is None:
            continue
        rendered = engine.request("POST", "/_render/template", {"id": f"{alias}-{name}", "params": params})
        assert rendered["template_output"] == render(ARMS[name].template("opensearch"), params)


def _tiny_gazetteer():
    from es_ltrr.understanding import Gazetteer

    return Gazetteer.from_entities([{"id": "t", "type": "track", "name": "Happy", "artist": "X", "popularity": 50.0}])


def test_missing_ltr_plugin_is_a_clear_error(engine, applied):
    if "opensearch-ltr" in installed_components(engine):
        pytest.skip("this node has the LTR plugin")
    with pytest.raises(ApplyError, match="LTR plugin.*--no-ltr"):
        apply(engine, MUSIC, [default_featureset()], ltr=True, say=lambda _: None)


def test_concrete_index_under_alias_name_is_refused(cluster_url):
    name = f"es-ltrr-concrete-{uuid.uuid4().hex[:6]}"
    other = cluster_engine(Settings.load(env={}, cluster_url=cluster_url, flavor="opensearch", index=name))
    other.request("PUT", f"/{name}")
    try:
        with pytest.raises(ApplyError, match="concrete index, not an alias"):
            apply(other, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    finally:
        other.request("DELETE", f"/{name}")


def test_schema_change_reindexes_behind_the_alias(engine, indexed, alias):
    before = engine.request("GET", f"/{alias}/_count")["count"]
    extended = Schema(fields=MUSIC.fields + (Field("label", "keyword"),))
    changes = apply(engine, extended, [default_featureset()], ltr=False, say=lambda _: None)
    assert [c.action for c in changes][:3] == ["create", "reindex", "swap-alias"]
    target = f"{alias}-v{index_version(extended, 'opensearch')}"
    assert list(engine.request("GET", f"/_alias/{alias}")) == [target]
    assert engine.request("GET", f"/{alias}/_count")["count"] == before
    # and back, so later tests see the shipped schema
    apply(engine, MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    assert engine.request("GET", f"/{alias}/_count")["count"] == before


# -- search ------------------------------------------------------------------------------------


def test_index_counts_match(engine, indexed, embedded_searcher):
    assert engine.health()["docs"] == embedded_searcher.engine.health()["docs"]


def test_search_on_the_cluster_runs_every_arm(cluster_searcher):
    result = cluster_searcher.search(parse_search_request({"query": "memories maroon 5", "debug": True}))
    statuses = {a["arm"]: a["status"] for a in result["arms"]}
    assert statuses["lexical"] == statuses["semantic"] == statuses["q2e"] == statuses["explore"] == "ok", result["arms"]
    assert "Memories" in result["hits"][0]["name"]
    assert not result["partial"]


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
    down = replace(cluster_searcher, engine=cluster_engine(Settings.load(env={}, cluster_url="http://127.0.0.1:1", flavor="opensearch", timeout_s=1)))
    result = down.search(parse_search_request({"query": "memories"}))
    assert result["partial"] is True and result["hits"] == []
    assert {a["status"] for a in result["arms"]} <= {"error", "not_applicable"}
    assert any(a["status"] == "error" and "Connection" in a["error"] for a in result["arms"])


def test_http_search_on_cluster(cluster_searcher):
    client = create_app(cluster_searcher).test_client()
    assert client.get("/healthz").get_json()["engine"]["flavor"] == "opensearch"
    body = client.post("/search", json={"query": "ed sheeran", "k": 5}).get_json()
    assert body["hits"] and body["hits"][0]["arms"]


# -- features & parity -------------------------------------------------------------------------


def test_logged_features_match_the_embedded_engine(cluster_searcher, embedded_searcher):
    """The featureset evaluated by the node and by the embedded engine agree (same corpus)."""
    from es_ltrr.ranking import feature_params

    result = embedded_searcher.search(parse_search_request({"query": "memories maroon 5", "k": 20}))
    ids = [h["id"] for h in result["hits"]]
    from es_ltrr.union import Candidate, Provenance

    cands = [Candidate(h["id"], {}, [Provenance(a["arm"], a["rank"], a["score"]) for a in h["arms"]]) for h in result["hits"]]
    u = understand("memories maroon 5", embedded_searcher.gazetteer)
    params = feature_params("memories maroon 5", u, cands)
    fs = default_featureset()
    local = log_features(embedded_searcher.engine, fs, params, ids)
    remote = log_features(cluster_searcher.engine, fs, params, ids)
    for j, name in enumerate(fs.names):
        if name in ("name_fuzzy", "artist_fuzzy"):  # Lucene sums fuzzy expansions; we take the max
            assert np.array_equal(local[:, j] > 0, remote[:, j] > 0), name
            continue
        np.testing.assert_allclose(local[:, j], remote[:, j], rtol=0.02, atol=1e-3, err_msg=name)


def test_arm_parity(embedded_searcher, cluster_searcher):
    results = measure(embedded_searcher, cluster_searcher.engine, QUERIES, k=10)
    for arm in ("lexical", "popular", "structured", "semantic", "q2e"):
        r = results[arm]
        assert r.errors == 0, arm
        if r.overlaps:
            assert r.mean >= 0.8, (arm, r.mean)
    assert results["explore"].errors == 0
    assert results["explore"].same_total >= 0.9  # random order differs by design; the matched set must not


def test_local_xgboost_ranker_on_the_cluster(cluster_searcher, tmp_path):
    """Without the LTR plugin the model scores in the sidecar, features logged by the node."""
    import xgboost as xgb

    from es_ltrr.ranking import XGBoostRanker, feature_params
    from es_ltrr.union import Candidate, Provenance

    fs = default_featureset()
    xs, ys, groups = [], [], []
    for q in ("ed sheeran", "maroon 5", "the chainsmokers", "remix"):
        hits = cluster_searcher.search(parse_search_request({"query": q, "k": 50}))["hits"]
        cands = [Candidate(h["id"], h, [Provenance(a["arm"], a["rank"], a["score"]) for a in h["arms"]]) for h in hits]
        feats = log_features(cluster_searcher.engine, fs, feature_params(q, understand(q, cluster_searcher.gazetteer), cands), [c.id for c in cands])
        xs.append(feats)
        ys.append((feats[:, fs.names.index("name_exact")] > 0).astype(float))
        groups.append(len(feats))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:pairwise", "base_score": 0.0, "max_depth": 3}, dtrain, 10)
    XGBoostRanker(booster, fs, "it").save(tmp_path / "m.json")
    searcher = replace(cluster_searcher, ranker=XGBoostRanker.load(tmp_path / "m.json", fs))
    result = searcher.search(parse_search_request({"query": "maroon 5", "k": 5}))
    assert result["ranker"] == "xgboost:it"
    assert result["hits"][0]["type"] == "artist" and result["hits"][0]["name"] == "Maroon 5"


def test_parity_command(cluster_url, alias, small_catalog, indexed, tmp_path):
    from click.testing import CliRunner

    from es_ltrr.cli import main

    result = CliRunner().invoke(main, [
        "--catalog", str(small_catalog), "--data-dir", str(tmp_path), "--cluster", cluster_url,
        "--flavor", "opensearch", "--index", alias, "parity", "--queries", "15"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    assert set(rows) == set(ARMS)
    assert float(rows["lexical"][3]) >= 0.8
