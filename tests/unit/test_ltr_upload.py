"""Model upload without a node: checks of the model file, the conversion to the plugin's
`model/xgboost+json`, and the upload flow on a scripted plugin.

The conversion is checked against both plugins' tree evaluation as their source reads
(`NaiveAdditiveDecisionTree`): the OpenSearch plugin (2.19) scores an unmatched feature as 0
and ignores the `missing` branch; the Elasticsearch plugin (1.5.10) keeps NaN and follows it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xgboost as xgb

from es_ltrr.ranking.ltr import FeatureSet, default_featureset
from es_ltrr.ranking.ltr.featureset import Feature
from es_ltrr.ranking.ltr.plugin import LtrPlugin
from es_ltrr.ranking.ltr.upload import (
    GUARD,
    ParityCase,
    UploadError,
    load_booster,
    objective,
    plugin_definition,
    upload_model,
)
from es_ltrr.retrieval.engines.cluster import ClusterEngine, ClusterError

FS = FeatureSet("toy", tuple(Feature(n, (), '{"match_all": {}}') for n in ("a", "b", "c")))


def _data(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Features > 0 when present, NaN when missing; a missing `a` is as good as a high one,
    so XGBoost learns splits whose missing branch is not the branch a 0 would take."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 10, (n, 3)).astype(np.float32)
    x[rng.random((n, 3)) < 0.35] = np.nan
    a, b = x[:, 0], x[:, 1]
    y = ((np.isnan(a) | (a > 5)).astype(int) + (np.nan_to_num(b) > 3)).astype(float)
    return x, y


def _train(tmp_path, objective_name: str = "rank:ndcg", names=("a", "b", "c"), rounds: int = 12, **params):
    x, y = _data()
    binary = "logistic" in objective_name or objective_name == "rank:map"
    d = xgb.DMatrix(x, label=(y > 0) if binary else y, feature_names=list(names))
    if objective_name.startswith("rank"):
        d.set_group([40] * 10)
    booster = xgb.train({"objective": objective_name, "max_depth": 3, "seed": 1, **params}, d, rounds)
    path = tmp_path / "model.json"
    booster.save_model(str(path))
    return path


def _plugin_score(definition: dict, row: np.ndarray, names: list[str], zero_for_missing: bool) -> float:
    """A tree model scored as the plugins do (float32 sums, `threshold > value` goes left)."""
    total = np.float32(0)
    for node in definition["splits"]:
        while "leaf" not in node:
            value = row[names.index(node["split"])]
            if math.isnan(value) and zero_for_missing:
                value = np.float32(0)
            left, right = node["children"]
            assert (left["nodeid"], right["nodeid"]) == (node["yes"], node["no"])
            if math.isnan(value):
                node = left if node["missing"] == left["nodeid"] else right
            else:
                node = left if np.float32(node["split_condition"]) > value else right
        total += np.float32(node["leaf"])
    if definition["objective"] in ("binary:logistic", "reg:logistic"):
        return float(1 / (1 + np.exp(-total)))
    return float(total)


@pytest.mark.parametrize("objective_name", ["rank:ndcg", "rank:pairwise", "binary:logistic"])
@pytest.mark.parametrize("zero_for_missing", [True, False], ids=["opensearch", "elasticsearch"])
def test_converted_model_scores_like_xgboost_on_both_plugins(tmp_path, objective_name, zero_for_missing):
    booster = load_booster(_train(tmp_path, objective_name), FS)
    definition = plugin_definition(booster)
    x, _ = _data(seed=5, n=300)
    expected = booster.predict(xgb.DMatrix(x, feature_names=FS.names))
    got = [_plugin_score(definition, row, FS.names, zero_for_missing) for row in x]
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_without_the_guard_the_opensearch_plugin_would_disagree(tmp_path):
    """The training data makes XGBoost send missing `a` right while 0 goes left."""
    booster = load_booster(_train(tmp_path), FS)
    raw = {"objective": "rank:pairwise", "splits": [json.loads(t) for t in booster.get_dump(dump_format="json")]}
    definition = plugin_definition(booster)
    guards = [n for tree in definition["splits"] for n in _walk(tree) if n.get("split_condition") == GUARD]
    assert guards, "the toy data should need guard splits"
    x, _ = _data(seed=5, n=300)
    expected = booster.predict(xgb.DMatrix(x, feature_names=FS.names))
    unguarded = np.array([_plugin_score(raw, row, FS.names, True) for row in x])
    assert np.abs(unguarded - expected).max() > 0.1


def _walk(node):
    yield node
    for child in node.get("children", ()):
        yield from _walk(child)


def test_base_score_is_folded_into_the_first_tree(tmp_path):
    booster = load_booster(_train(tmp_path, "rank:pairwise", base_score=2.5), FS)
    definition = plugin_definition(booster)
    raw_first = json.loads(booster.get_dump(dump_format="json")[0])
    first_leaves = sorted(n["leaf"] for n in _walk(definition["splits"][0]) if "leaf" in n)
    assert min(first_leaves) > min(n["leaf"] for n in _walk(raw_first) if "leaf" in n) + 2.4
    dump = booster.get_dump(dump_format="json")
    assert len(definition["splits"]) == len(dump) > 1
    for tree, raw in zip(definition["splits"][1:], dump[1:]):
        # the same leaves (guards duplicate a subtree, so compare as sets)
        assert {n["leaf"] for n in _walk(tree) if "leaf" in n} == {
            n["leaf"] for n in _walk(json.loads(raw)) if "leaf" in n}


@pytest.mark.parametrize("name,sent", [("rank:ndcg", "rank:pairwise"), ("rank:map", "rank:pairwise"),
                                       ("rank:pairwise", "rank:pairwise"), ("binary:logistic", "binary:logistic"),
                                       ("reg:squarederror", "reg:squarederror")])
def test_objectives(tmp_path, name, sent):
    assert objective(load_booster(_train(tmp_path, name, rounds=2), FS)) == sent


@pytest.mark.parametrize("names,message", [
    (("a", "b", "x"), r"featureset mismatch: .* uses \['x'\]"),
    (("a", "b"), r"lacks feature\(s\) \['c'\]"),
    (("b", "a", "c"), "another order"),
])
def test_feature_names_are_checked(tmp_path, names, message):
    x, y = _data()
    d = xgb.DMatrix(x[:, : len(names)], label=y, feature_names=list(names))
    booster = xgb.train({"objective": "reg:squarederror"}, d, 2)
    booster.save_model(str(tmp_path / "m.json"))
    with pytest.raises(UploadError, match=message):
        load_booster(tmp_path / "m.json", FS)


def test_unnamed_features_and_bad_files_are_clear_errors(tmp_path):
    x, y = _data()
    xgb.train({}, xgb.DMatrix(x, label=y), 2).save_model(str(tmp_path / "m.json"))
    with pytest.raises(UploadError, match="no feature names"):
        load_booster(tmp_path / "m.json", FS)
    (tmp_path / "bad.json").write_text("{not a model")
    with pytest.raises(UploadError, match="cannot load XGBoost model"):
        load_booster(tmp_path / "bad.json", FS)


def test_default_featureset_has_positive_features_only():
    """The guard relies on it: no feature may be 0 when it matches (popularity → ln(2 + p))."""
    templates = {f.name: f.template for f in default_featureset().features}
    assert "ln2p" in templates["log_popularity"]


# -- the upload flow on a scripted plugin ----------------------------------------------------


class Scripted(ClusterEngine):
    """Answers `_ltr` calls like the plugin: a stored featureset, models by name, sltr, ltr_log."""

    flavor = "opensearch"

    def __init__(self, featureset: FeatureSet, booster=None, reject: str | None = None, skew: float = 0.0):
        super().__init__(client=None, index="music")
        self.fs, self.booster, self.reject, self.skew = featureset, booster, reject, skew
        self.models: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.rows = {"d1": [1.0, np.nan, 2.0], "d2": [np.nan, 4.0, 0.5], "d3": [7.0, 3.5, np.nan]}

    def _perform(self, method, path, body, params, timeout_s=None):
        self.calls.append((method, path))
        if path == f"/_ltr/_featureset/{self.fs.name}":
            return {"_source": self.fs.plugin_body()}
        if path.startswith("/_ltr/_model/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.models:
                raise _Status(404)
            if method == "DELETE":
                del self.models[name]
                return {}
            return {"found": True, "_source": {"name": name, "type": "model", "model": self.models[name]}}
        if path.endswith("/_createmodel"):
            if self.reject:
                raise _Status(400, self.reject)
            model = body["model"]
            self.models[model["name"]] = {"name": model["name"], "model": model["model"]}
            return {}
        if "ext" in body:  # ltr_log
            return {"hits": {"hits": [{"_id": i, "fields": {"_ltrlog": [{"features": [
                {"name": n, **({} if np.isnan(v) else {"value": v})} for n, v in zip(self.fs.names, row)]}]}}
                for i, row in self.rows.items()]}}
        model = self.models[body["rescore"]["query"]["rescore_query"]["sltr"]["model"]]["model"]["definition"]
        return {"hits": {"hits": [{"_id": i, "_score": _plugin_score(model, np.float32(row), self.fs.names, True) + self.skew}
                                  for i, row in self.rows.items()]}}


class _Status(Exception):
    def __init__(self, status, reason="error"):
        super().__init__(reason)
        self.status_code = status


CASES = [ParityCase({"keywords": "x"}, ("d1", "d2", "d3"))]


def test_upload_creates_checks_parity_and_saves(tmp_path):
    path = _train(tmp_path)
    engine = Scripted(FS)
    done = upload_model(LtrPlugin(engine), path, FS, CASES, lambda n: tmp_path / "models" / n)
    assert done.name.startswith("toy-") and len(done.name) == len("toy-") + 8
    assert done.created and done.documents == 3 and done.parity_max_abs_diff < 1e-5
    metrics = json.loads((done.directory / "metrics.json").read_text())
    assert metrics["parity_max_abs_diff"] == done.parity_max_abs_diff
    assert json.loads((done.directory / "metadata.json").read_text())["features"] == FS.names
    again = upload_model(LtrPlugin(engine), path, FS, CASES, lambda n: tmp_path / "models" / n)
    assert not again.created and again.name == done.name  # the same model: nothing to do


def test_a_name_that_exists_with_another_model_is_refused(tmp_path):
    engine = Scripted(FS)
    upload_model(LtrPlugin(engine), _train(tmp_path), FS, CASES, lambda n: tmp_path / "a" / n, name="m1")
    other = _train(tmp_path / "..", rounds=5)
    with pytest.raises(UploadError, match="already exists on the node"):
        upload_model(LtrPlugin(engine), other, FS, CASES, lambda n: tmp_path / "b" / n, name="m1")
    with pytest.raises(UploadError, match="different model named 'm1' exists"):
        upload_model(LtrPlugin(Scripted(FS)), other, FS, CASES, lambda n: tmp_path / "a" / n, name="m1")


def test_the_plugins_reason_is_surfaced(tmp_path):
    engine = Scripted(FS, reject="Objective [reg:squarederror] is not a valid XGBoost objective")
    with pytest.raises(UploadError, match=r"rejected model .*not a valid XGBoost objective"):
        upload_model(LtrPlugin(engine), _train(tmp_path, "reg:squarederror"), FS, CASES, lambda n: tmp_path / n)


def test_failed_parity_deletes_the_model(tmp_path):
    engine = Scripted(FS, skew=0.01)
    with pytest.raises(UploadError, match=r"parity check .* failed .*= 0\.01.*deleted from the node"):
        upload_model(LtrPlugin(engine), _train(tmp_path), FS, CASES, lambda n: tmp_path / "models" / n)
    assert engine.models == {} and not (tmp_path / "models").exists()


def test_a_node_without_our_featureset_is_refused(tmp_path):
    other = FeatureSet("toy", FS.features[:2] + (Feature("c", (), '{"match_none": {}}'),))
    with pytest.raises(UploadError, match="run `es-ltrr apply`"):
        upload_model(LtrPlugin(Scripted(other)), _train(tmp_path), FS, CASES, lambda n: tmp_path / n)


@pytest.mark.parametrize("name", ["../x", "a b", ".hidden", ""])
def test_invalid_names(tmp_path, name):
    with pytest.raises(UploadError, match="invalid model name"):
        upload_model(LtrPlugin(Scripted(FS)), _train(tmp_path), FS, CASES, lambda n: tmp_path / n, name=name or "-")


def test_cluster_errors_keep_their_status():
    with pytest.raises(ClusterError) as info:
        Scripted(FS).request("GET", "/_ltr/_model/none")
    assert info.value.status == 404
