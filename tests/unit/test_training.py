"""Training from judgments: the RankLib judgments format, the query split, XGBoost on
examples whose labels the features determine (it must beat a random baseline, evaluated by
ir-measures), activation history and rollback, and `es-ltrr train` end to end on the small
catalog (the log is empty, so it generates simulated traffic first and says so)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from es_ltrr.common.datadir import DataDir, DataDirError
from es_ltrr.ranking.ltr import LtrModel, default_featureset
from es_ltrr.ranking.ltr.training import QueryExamples, evaluate, read_ranklib, split_of, train


def test_ranklib_judgments_are_read_and_bad_lines_named(tmp_path):
    good = tmp_path / "judgments.txt"
    good.write_text("# qid:1: taylor swift\n# qid:2: rock\n4 qid:1 # artist:taylor-swift\n0 qid:1 # t-1\n\n3 qid:2 # genre:rock\n")
    assert read_ranklib(good) == {"taylor swift": {"artist:taylor-swift": 4, "t-1": 0}, "rock": {"genre:rock": 3}}
    bad = tmp_path / "bad.txt"
    bad.write_text("# qid:1: x\n4 qid:1 # a\nfour qid:1 # b\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: not a judgment"):
        read_ranklib(bad)
    orphan = tmp_path / "orphan.txt"
    orphan.write_text("2 qid:9 # a\n")
    with pytest.raises(ValueError, match=r"orphan.txt:1: qid:9 has no"):
        read_ranklib(orphan)


def test_the_split_is_by_query_and_stable():
    splits = [split_of(f"query {i}") for i in range(2000)]
    assert splits == [split_of(f"query {i}") for i in range(2000)]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "valid", "test")}
    assert abs(shares["train"] - 0.70) < 0.05 and abs(shares["test"] - 0.15) < 0.04


def _examples(n_queries: int = 120, seed: int = 0) -> list[QueryExamples]:
    featureset = default_featureset()
    rng = np.random.default_rng(seed)
    out = []
    for q in range(n_queries):
        x = rng.random((30, len(featureset.names))).astype(np.float32)
        labels = np.digitize(x[:, 0] + 0.1 * rng.random(30), [0.5, 0.7, 0.9]).astype(float)  # feature 0 decides
        out.append(QueryExamples(f"q{q}", [f"q{q}-d{i}" for i in range(30)], x, labels, rng.random(30), split_of(f"q{q}")))
    return out


def test_a_model_learns_what_the_features_say_and_beats_the_baseline(tmp_path):
    featureset = default_featureset()
    examples = _examples()
    model = train(examples, featureset, "m1")
    metrics = evaluate(examples, {"none": lambda e: e.fusion, "new": lambda e: model.predict(e.features)})
    assert metrics["new"]["ndcg10"] > metrics["none"]["ndcg10"] + 0.2, metrics
    assert metrics["new"]["queries"] == sum(e.split == "test" for e in examples)
    saved = LtrModel.load(model.save(tmp_path / "m1"), featureset)
    np.testing.assert_allclose(saved.predict(examples[0].features), model.predict(examples[0].features))


def test_too_few_judged_queries_is_a_clear_error():
    with pytest.raises(ValueError, match="too few judged queries"):
        train([e for e in _examples(10) if e.split == "train"], default_featureset(), "m")


def test_activation_history_and_rollback(tmp_path):
    data = DataDir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / "models" / name).mkdir(parents=True)
    data.activate_model("a")
    data.activate_model("b")
    assert data.active_model().name == "b"
    assert data.rollback_model() == "a" and data.active_model().name == "a"
    assert data.rollback_model() is None and data.active_model() is None
    with pytest.raises(DataDirError, match="nothing to roll back"):
        data.rollback_model()


def test_train_command_end_to_end(cli, tmp_path):
    result = cli("train", "--searches", "600", "--json")
    assert result.exit_code == 0, result.output
    assert "no feedback logged yet: generating 600 simulated searches" in result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"model", "active_model", "ndcg10_none", "ndcg10_current", "ndcg10_new", "parity_max_abs_diff"}
    model_dir = tmp_path / "d" / "models" / report["model"]
    assert (model_dir / "metrics.json").is_file()
    for png in ("feature_importance.png", "ndcg_by_intent.png"):
        assert (model_dir / "report" / png).read_bytes()[:4] == b"\x89PNG"
    assert report["by_intent"] and all(set(m) >= {"none", "new"} for m in report["by_intent"].values())
    assert report["activated"] == (report["active_model"] == report["model"])
    if report["activated"]:
        assert report["ndcg10_new"] > report["ndcg10_none"]
        assert cli("train", "--rollback").exit_code == 0
        assert DataDir(tmp_path / "d").active_model() is None


def test_a_featureset_change_invalidates_models_built_on_the_old_one(tmp_path):
    from dataclasses import replace

    featureset = default_featureset()
    model = train(_examples(), featureset, "old")
    model.save(tmp_path / "old")
    changed = replace(featureset, features=featureset.features[:-1])
    with pytest.raises(ValueError, match=r"model old was trained on features .* but featureset"):
        LtrModel.load(tmp_path / "old", changed)
