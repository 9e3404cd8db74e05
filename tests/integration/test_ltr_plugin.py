"""The LTR plugin's runtime path on the real nodes, once per flavor: featureset upload,
hostile text in feature templates, `ltr_log` logging parity with the embedded engine, model
upload with its parity check, `sltr` rescoring, a rejected model, a model missing on the node.

The featuresets and models get per-run names (the feature store is node-wide) and are
deleted afterwards. The Elasticsearch node has no rank_feature query (no mapper-extras): there
the same featureset's q2e_memory runs its `term` form on the sparse_vector memory (the params'
`q2e_terms`, from the engine's `Capabilities`).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from es_ltrr.common.schema import MUSIC
from es_ltrr.ops.apply import _ltr_installed, apply, apply_ltr
from es_ltrr.ranking import PluginRanker
from es_ltrr.ranking.ltr import (
    FeatureSet,
    LtrModel,
    PluginFeatureLogger,
    default_featureset,
    feature_logger,
    feature_params,
    log_features,
)
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.ranking.ltr.upload import PARITY_TOLERANCE, ParityCase, UploadError, file_digest, upload_model
from es_ltrr.retrieval.engines.cluster import ClusterError
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.understanding import Gazetteer, understand

from ..hostile import HOSTILE_STRINGS
from ..judgments import grade, ndcg_at
from .conftest import QUERIES, assert_features_close

pytestmark = pytest.mark.cluster

PLUGIN_NAME = {"opensearch": "opensearch-ltr", "elasticsearch": "ltr"}
TRAIN = ["ed sheeran", "the chainsmokers", "remix", "love", "summer", "dance", "i dont care", "party"]
HELD_OUT = ["maroon 5", "justin bieber", "night", "tropical"]


def _featureset(name: str) -> FeatureSet:
    return replace(default_featureset(), name=name)


@pytest.fixture(scope="module")
def plugin(engine, components, flavor) -> LtrPlugin:
    """The node's LTR plugin with its feature store (skipped without it, failed under REQUIRE)."""
    if not _ltr_installed(components):
        message = f"the {flavor} node has no LTR plugin ({sorted(components)})"
        if os.environ.get("ES_LTRR_REQUIRE_CLUSTER"):
            pytest.fail(message)
        pytest.skip(message)
    plugin = LtrPlugin(engine)
    if not plugin.store_exists():
        plugin.create_store()
    return plugin


@pytest.fixture(scope="module")
def featureset(plugin, alias) -> FeatureSet:
    """This run's featureset, stored on the node (removed afterwards)."""
    fs = _featureset(f"{alias}-fs")
    apply_ltr(plugin.engine, [fs], say=lambda _: None)
    yield fs
    plugin.engine.request("DELETE", f"/_ltr/_featureset/{fs.name}")


def _case(searcher, query: str, node) -> tuple[list, ParityCase]:
    """One search's candidates and its params, built for the `node` engine's flavor and memory
    (the embedded engine runs either flavor's clauses and both memory forms, so one case serves
    both sides)."""
    result = searcher.search(parse_search_request({"query": query, "k": 50}))
    return list(result.candidates), ParityCase.of(query, result.understanding, result.candidates, result.vector,
                                                  node.flavor, node.capabilities.memory)


# -- the plugin and featuresets -----------------------------------------------------------------


def test_the_plugin_is_installed(plugin, components, flavor):
    assert PLUGIN_NAME[flavor] in components
    rows = plugin.engine.request("GET", "/_cat/plugins", params={"format": "json"})
    assert PLUGIN_NAME[flavor] in {row["component"] for row in rows}


def test_featureset_upload_is_idempotent(plugin, alias):
    fs = _featureset(f"{alias}-idem")
    try:
        first = apply_ltr(plugin.engine, [fs], say=lambda _: None)
        assert [c.action for c in first] == ["unchanged", "store"]
        assert plugin.featureset_matches(fs)
        assert [c.action for c in apply_ltr(plugin.engine, [fs], say=lambda _: None)] == ["unchanged", "unchanged"]
        changed = replace(fs, features=fs.features[:-1])
        assert [c.action for c in apply_ltr(plugin.engine, [changed], say=lambda _: None)] == ["unchanged", "store"]
        assert plugin.featureset_matches(changed) and not plugin.featureset_matches(fs)
    finally:
        plugin.engine.request("DELETE", f"/_ltr/_featureset/{fs.name}")


def test_apply_uploads_the_shipped_featuresets_idempotently(plugin, applied):
    first = apply(plugin.engine, MUSIC, [default_featureset()], ltr=True, say=lambda _: None)
    assert {c.action for c in first if c.target.startswith("featureset")} <= {"store", "unchanged"}
    assert plugin.featureset_matches(default_featureset())
    again = apply(plugin.engine, MUSIC, [default_featureset()], ltr=True, say=lambda _: None)
    assert {c.action for c in again} <= {"unchanged", "skip"}, again


@pytest.mark.parametrize("text", HOSTILE_STRINGS + ["\" OR 1=1 }}{{", '"]}}, {"match_all": {}}', "ed sheeran \\\" love"])
def test_hostile_keywords_cannot_change_the_feature_queries(flavor, plugin, featureset, indexed, embedded_searcher, text):
    """The plugin renders the templates itself: hostile text must stay the literal text the
    embedded engine searches for (an injected match_all would match every candidate)."""
    candidates, case = _case(embedded_searcher, "ed sheeran", plugin.engine)
    params = {**case.params, "keywords": text}
    try:
        remote = PluginFeatureLogger().log(plugin.engine, featureset, params, case.ids)
    except ClusterError as exc:  # a clean refusal is allowed, a changed query is not
        assert exc.status == 400, exc
        return
    local = log_features(embedded_searcher.engine, featureset, params, case.ids)
    assert_features_close(local, remote, featureset.names)


def test_hostile_strings_in_list_params_stay_strings(flavor, plugin, featureset, indexed, embedded_searcher):
    """toJson of a list quotes its strings on the node as in es_ltrr.common.templating."""
    candidates, case = _case(embedded_searcher, "love", plugin.engine)
    evil = ['track"]}}, {"match_all": {}}, {"x": ["', "album"]
    clause = {"constant_score": {"filter": {"ids": {"values": evil + list(case.ids[:3])}}, "boost": 0.5}}
    params = {**case.params, "types": evil, "rank_lexical": [{"ids": {"values": evil}}, clause]}
    remote = PluginFeatureLogger().log(plugin.engine, featureset, params, case.ids)
    local = log_features(embedded_searcher.engine, featureset, params, case.ids)
    assert_features_close(local, remote, featureset.names)
    assert np.nansum(remote[:, featureset.names.index("rank_lexical")]) == 1.5


def test_the_plugins_tojson_writes_a_string_raw(plugin, featureset, indexed):
    """Why es-ltrr passes only lists to toJson (and its renderer refuses strings there): the
    plugin, like lang-mustache, writes a string raw — here it becomes JSON structure."""
    ids = [h["_id"] for h in plugin.engine.request("POST", f"/{plugin.engine.index_name}/_search",
                                                   {"size": 5, "query": {"term": {"type": "album"}}})["hits"]["hits"]]
    params = {**feature_params("x", understand("x", Gazetteer.from_entities([])), [],
                               memory=plugin.engine.capabilities.memory), "types": '["album"]'}
    logged = PluginFeatureLogger().log(plugin.engine, featureset, params, ids)
    assert (logged[:, featureset.names.index("type_match")] == 1.0).all()


# -- logging ------------------------------------------------------------------------------------


def test_ltr_log_is_one_request_and_matches_the_embedded_engine(flavor, plugin, featureset, indexed, embedded_searcher,
                                                                 monkeypatch):
    calls: list[str] = []
    request = plugin.engine.request
    monkeypatch.setattr(plugin.engine, "request", lambda m, p, *a, **k: calls.append(p) or request(m, p, *a, **k))
    compared = 0
    for query in QUERIES[:9]:  # "i dont care" too: "I'm" is one token on both engines
        candidates, case = _case(embedded_searcher, query, plugin.engine)
        calls.clear()
        remote = PluginFeatureLogger().log(plugin.engine, featureset, case.params, case.ids)
        assert len(calls) == 1
        local = log_features(embedded_searcher.engine, featureset, case.params, case.ids)
        assert_features_close(local, remote, featureset.names)
        compared += len(case.ids)
    assert compared > 300


def test_the_plugin_path_is_chosen_only_where_the_featureset_is_stored(plugin, featureset):
    assert feature_logger(plugin, featureset).kind == "ltr_log"
    assert feature_logger(plugin, _featureset("es-ltrr-not-stored")).kind == "msearch"


# -- models ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(flavor, plugin, featureset, cluster_searcher, tmp_path_factory):
    """An XGBoost ranker trained on features the plugin logged and assessor grades (not a feature)."""
    import xgboost as xgb

    xs, ys, groups = [], [], []
    for query in TRAIN:
        candidates, case = _case(cluster_searcher, query, plugin.engine)
        xs.append(PluginFeatureLogger().log(plugin.engine, featureset, case.params, case.ids))
        ys.append([grade(query, c.source) for c in candidates])
        groups.append(len(candidates))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=featureset.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:ndcg", "max_depth": 3, "eta": 0.3, "seed": 1}, dtrain, 30)
    path = tmp_path_factory.mktemp("model") / "ranker.json"
    booster.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def uploaded(flavor, plugin, featureset, trained, cluster_searcher, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    cases = [_case(cluster_searcher, q, plugin.engine)[1] for q in TRAIN[:3] + HELD_OUT]
    done = upload_model(plugin, trained, featureset, cases, lambda name: models / name)
    yield done
    plugin.delete_model(done.name)


def test_upload_passes_the_parity_check(uploaded, featureset):
    assert uploaded.created and uploaded.name.startswith(f"{featureset.name}-")
    assert uploaded.documents > 300
    assert uploaded.parity_max_abs_diff <= PARITY_TOLERANCE
    metrics = json.loads((uploaded.directory / "metrics.json").read_text())
    assert metrics["parity_max_abs_diff"] == uploaded.parity_max_abs_diff
    print(f"\nparity: max |sltr - xgboost| = {uploaded.parity_max_abs_diff:.3g} over {uploaded.documents} documents")


def test_uploading_the_same_model_again_changes_nothing(flavor, plugin, uploaded, featureset, trained, cluster_searcher):
    cases = [_case(cluster_searcher, "maroon 5", plugin.engine)[1]]
    again = upload_model(plugin, trained, featureset, cases, lambda name: uploaded.directory.parent / name)
    assert again.name == uploaded.name and not again.created


def test_a_name_that_exists_with_another_model_is_refused(flavor, plugin, uploaded, featureset, cluster_searcher, tmp_path):
    import xgboost as xgb

    x = np.random.default_rng(0).random((30, len(featureset.names)))
    other = xgb.train({"objective": "rank:pairwise"}, xgb.DMatrix(x, label=x[:, 0] > 0.5, feature_names=featureset.names), 3)
    other.save_model(str(tmp_path / "other.json"))
    with pytest.raises(UploadError, match="already exists on the node"):
        upload_model(plugin, tmp_path / "other.json", featureset, [_case(cluster_searcher, "love", plugin.engine)[1]],
                     lambda name: tmp_path / name, name=uploaded.name)


def test_sltr_rescoring_orders_the_union_as_the_model_says(plugin, uploaded, featureset, cluster_searcher):
    model = LtrModel.load(uploaded.directory, featureset)
    ranked = replace(cluster_searcher, ranker=PluginRanker(uploaded.name))
    fused, learned = [], []
    for query in HELD_OUT:
        result = ranked.search(parse_search_request({"query": query, "k": 10}))
        assert result.ranker == f"sltr:{uploaded.name}"
        cands = list(result.candidates)
        params = feature_params(query, result.understanding, cands, result.vector, plugin.engine.flavor,
                                plugin.engine.capabilities.memory)
        local = model.predict(PluginFeatureLogger().log(plugin.engine, featureset, params, [c.id for c in cands]))
        expected = sorted(range(len(cands)), key=lambda i: -local[i])[:10]
        np.testing.assert_allclose([local[i] for i in result.page], [local[i] for i in expected], atol=1e-4)
        np.testing.assert_allclose([s for _, s in result.hits], [local[i] for i in result.page], atol=PARITY_TOLERANCE)
        learned.append(ndcg_at([grade(query, c.source) for c, _ in result.hits]))
        plain = cluster_searcher.search(parse_search_request({"query": query, "k": 10}))
        fused.append(ndcg_at([grade(query, c.source) for c, _ in plain.hits]))
    assert np.mean(learned) > np.mean(fused), (learned, fused)


def test_a_model_the_plugin_rejects_is_a_clear_error(flavor, plugin, featureset, cluster_searcher, tmp_path):
    import xgboost as xgb

    x = np.random.default_rng(1).random((30, len(featureset.names)))
    xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(x, label=x[:, 0], feature_names=featureset.names),
              2).save_model(str(tmp_path / "reg.json"))
    with pytest.raises(UploadError, match=r"rejected model .*reg:squarederror"):
        upload_model(plugin, tmp_path / "reg.json", featureset, [_case(cluster_searcher, "love", plugin.engine)[1]],
                     lambda name: tmp_path / name)
    assert not list(tmp_path.glob(f"{featureset.name}-*"))


def test_a_model_missing_on_the_node_falls_back_to_rrf(plugin, featureset, cluster_searcher):
    searcher = replace(cluster_searcher, ranker=PluginRanker("es-ltrr-no-such-model"))
    result = searcher.search(parse_search_request({"query": "ed sheeran"}))
    assert result.ranker == "rrf (fallback: sltr failed)"
    assert result.hits


def test_a_model_deleted_behind_the_sidecar_falls_back_to_fusion_and_recovers(flavor, plugin, uploaded, featureset, trained,
                                                                              cluster_searcher, caplog):
    """The serving model is deleted on the node while the sidecar runs: pages keep coming,
    ranked by fusion, and the response and the log say so; once the model is back (uploaded
    again), sltr ranks again without a restart."""
    from es_ltrr.serving.http import create_app

    searcher = replace(cluster_searcher, ranker=PluginRanker(uploaded.name))
    client = create_app(searcher).test_client()
    assert client.post("/search", json={"query": "ed sheeran"}).get_json()["ranker"] == f"sltr:{uploaded.name}"
    health = client.get("/healthz").get_json()
    assert (health["status"], health["ranker"]) == ("ok", f"sltr:{uploaded.name}")
    assert plugin.delete_model(uploaded.name)
    try:
        # /healthz said "ok" and the model's name while every search fell back (issue 23, item 4)
        health = client.get("/healthz").get_json()  # before any search notices
        assert (health["status"], health["ranker"]) == ("degraded", "rrf (fallback: sltr failed)"), health
        assert uploaded.name in health["ranker_error"]
        response = client.post("/search", json={"query": "ed sheeran"})
        assert response.status_code == 200
        page = response.get_json()
        assert page["ranker"] == "rrf (fallback: sltr failed)" and page["hits"]
        assert f"ranker sltr:{uploaded.name} failed, falling back to rrf" in caplog.text
        health = client.get("/healthz")
        assert health.status_code == 200 and health.get_json()["ranker"] == page["ranker"]  # searches are served
    finally:
        cases = [_case(cluster_searcher, "maroon 5", plugin.engine)[1]]
        back = upload_model(plugin, trained, featureset, cases, lambda name: uploaded.directory.parent / name)
    assert back.created and back.name == uploaded.name
    assert client.post("/search", json={"query": "ed sheeran"}).get_json()["ranker"] == f"sltr:{uploaded.name}"
    health = client.get("/healthz").get_json()
    assert (health["status"], health["ranker"]) == ("ok", f"sltr:{uploaded.name}") and "ranker_error" not in health


def test_upload_model_command(plugin, node_url, flavor, alias, small_catalog, indexed, trained, settings):
    """`es-ltrr upload-model --activate --json` (default featureset, stored by `apply`), then
    searches of that data dir on this cluster rescore with sltr."""
    from click.testing import CliRunner

    from es_ltrr.cli import main
    from es_ltrr.serving.wiring import build_searcher

    apply_ltr(plugin.engine, [default_featureset()], say=lambda _: None)
    args = ["upload-model", str(trained), "--catalog", str(small_catalog), "--data-dir", str(settings.data_dir),
            "--cluster", node_url, "--flavor", flavor, "--index", alias, "--no-embed", "--name", f"{alias}-cli"]
    result = CliRunner().invoke(main, [*args, "--activate", "--json"])
    try:
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["name"] == f"{alias}-cli" and report["featureset"] == "music" and report["active"] is True
        assert report["parity_max_abs_diff"] <= PARITY_TOLERANCE
        searcher = build_searcher(replace(settings, embed=False), say=lambda _: None)
        assert searcher.search(parse_search_request({"query": "maroon 5"})).ranker == f"sltr:{alias}-cli"
        other = args[:]
        other[1] = str(trained.parent / "missing.json")
        assert CliRunner().invoke(main, other).exit_code == 2

        # the same model again, without a name: stored once (issue 23, item 10), not a second
        # copy under <featureset>-<sha8>
        again = CliRunner().invoke(main, [*args[:-2], "--json"])
        assert again.exit_code == 0, again.output
        report = json.loads(again.stdout)
        assert report["name"] == f"{alias}-cli" and report["stored_before"] and not report["created"]
        assert plugin.get_model(f"music-{file_digest(trained)[:8]}") is None
        renamed = CliRunner().invoke(main, [*args[:-2], "--name", f"{alias}-copy"])
        assert renamed.exit_code == 2 and f"already stored as '{alias}-cli'" in renamed.stderr
        assert plugin.get_model(f"{alias}-copy") is None

        models = ["models", "--data-dir", str(settings.data_dir), "--cluster", node_url, "--flavor", flavor]
        refused = CliRunner().invoke(main, [*models, "--delete", f"{alias}-cli"])
        assert refused.exit_code == 2 and "is the active model" in refused.stderr
        (settings.data_dir / "models" / "ACTIVE").unlink()
        deleted = CliRunner().invoke(main, [*models, "--delete", f"{alias}-cli", "--force"])
        assert deleted.exit_code == 0, deleted.output
        assert "from the data dir and the cluster's LTR plugin" in deleted.stderr
        assert plugin.get_model(f"{alias}-cli") is None and not (settings.data_dir / "models" / f"{alias}-cli").exists()
    finally:
        plugin.delete_model(f"{alias}-cli")
        (settings.data_dir / "models" / "ACTIVE").unlink(missing_ok=True)


def test_upload_model_command_errors(plugin, node_url, flavor, alias, small_catalog, indexed, settings, tmp_path):
    import xgboost as xgb
    from click.testing import CliRunner

    from es_ltrr.cli import main

    apply_ltr(plugin.engine, [default_featureset()], say=lambda _: None)
    names = default_featureset().names
    x = np.random.default_rng(2).random((30, len(names)))
    label = x[:, 0]
    xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(x, label=label, feature_names=names), 2).save_model(
        str(tmp_path / "reg.json"))
    xgb.train({}, xgb.DMatrix(x[:, :-1], label=label, feature_names=names[:-1]), 2).save_model(str(tmp_path / "short.json"))
    base = ["--catalog", str(small_catalog), "--data-dir", str(settings.data_dir), "--cluster", node_url,
            "--flavor", flavor, "--index", alias, "--no-embed"]
    for model, message in (("reg.json", "Objective [reg:squarederror] is not a valid"), ("short.json", f"lacks feature(s) ['{names[-1]}']")):
        result = CliRunner().invoke(main, ["upload-model", str(tmp_path / model), *base])
        last = result.stderr.strip().splitlines()[-1]  # after the catalog progress bar
        assert result.exit_code == 2 and last.startswith("error: ") and message in last, result.output
