"""Model files are checked before XGBoost reads them: the corruptions that crashed the process
(a segfault inside XGBoost's loader, found by tests/e2e/test_hostile_matrix.py) are errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")

from es_ltrr.ranking.ltr.model_file import ModelFileError, check_trees, read_booster  # noqa: E402


@pytest.fixture(scope="module")
def model_doc() -> dict:
    rng = np.random.default_rng(3)
    data = xgb.DMatrix(rng.random((60, 5)), label=rng.integers(0, 3, 60))
    data.set_group([10] * 6)
    booster = xgb.train({"objective": "rank:ndcg", "max_depth": 2}, data, num_boost_round=3)
    return json.loads(booster.save_raw("json"))


def _tree(doc: dict) -> dict:
    return doc["learner"]["gradient_booster"]["model"]["trees"][1]


def test_a_sound_model_loads(model_doc, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model_doc))
    check_trees(model_doc)
    assert read_booster(xgb, path).num_boosted_rounds() == 3


@pytest.mark.parametrize("corrupt, message", [
    (lambda t: t["parents"].__setitem__(2, -1), "names -1 as its parent"),  # crashed XGBoost 3.2
    (lambda t: t.__setitem__("categories_nodes", [1]), "categories_nodes, _segments and _sizes disagree"),  # crashed too
    (lambda t: t["left_children"].__setitem__(0, 99), "outside"),
    (lambda t: t["split_indices"].__setitem__(0, 7), "splits on feature 7"),
    (lambda t: t["base_weights"].pop(), "base_weights must be"),
    (lambda t: t["split_type"].__setitem__(0, 1), "a categorical split has no categories"),
    (lambda t: t["tree_param"].__setitem__("num_nodes", True), "malformed"),
])
def test_a_corrupt_tree_is_an_error_naming_the_file(model_doc, tmp_path, corrupt, message):
    doc = json.loads(json.dumps(model_doc))
    corrupt(_tree(doc))
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=f"cannot load XGBoost model {path}: tree 1: .*{message}"):
        read_booster(xgb, path)


def test_files_that_are_not_models(tmp_path):
    for text, message in [("", "cannot load XGBoost model"), ("{}", "not an XGBoost tree model"),
                          ('{"learner": 1}', "not an XGBoost tree model")]:
        path = tmp_path / "m.json"
        path.write_text(text)
        with pytest.raises(ModelFileError, match=message):
            read_booster(xgb, path)
    with pytest.raises(ModelFileError, match="No such file"):
        read_booster(xgb, tmp_path / "missing.json")
