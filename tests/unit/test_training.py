"""Training: the RankLib judgments format, the query split, XGBoost on examples whose labels
the features determine (graded, and position-biased clicks in display order), activation
history and rollback, and `es-ltrr train` end to end on the small catalog (the log is empty,
so simulated users fill a log of their own first — never the serving one — and it says so)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from es_ltrr.common.datadir import DataDir, DataDirError
from es_ltrr.ranking.ltr import LtrModel, default_featureset
from es_ltrr.ranking.ltr.training import QueryExamples, click_label, read_ranklib, split_of, train

from ..judgments import ndcg_at


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
    assert set(splits) == {"train", "valid"}
    assert abs(splits.count("train") / len(splits) - 0.85) < 0.04


def test_click_labels():
    assert [click_label(w) for w in (1.0, 2.0, 0.5, 0.0, -0.5)] == [2, 2, 1, 0, 0]


N_FEATURES = len(default_featureset().names)


def _examples(n_queries: int = 120, seed: int = 0) -> list[QueryExamples]:
    """Groups whose grades feature 0 decides (the rest is noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for q in range(n_queries):
        x = rng.random((30, N_FEATURES)).astype(np.float32)
        labels = np.digitize(x[:, 0] + 0.1 * rng.random(30), [0.5, 0.7, 0.9]).astype(float)
        out.append(QueryExamples(f"q{q}", [f"q{q}-d{i}" for i in range(30)], x, labels, split_of(f"q{q}")))
    return out


def _ndcg(model, groups: list[QueryExamples], truth) -> float:
    """Mean nDCG@10 of the model's order, graded by `truth(features)`."""
    return float(np.mean([ndcg_at(list(truth(e.features)[np.argsort(-model.predict(e.features))][:10]))
                          for e in groups]))


def test_a_model_learns_what_the_features_say(tmp_path):
    featureset = default_featureset()
    model = train(_examples(), featureset, "m1", labels="pbm")
    fresh = _examples(40, seed=9)
    grades = lambda x: np.digitize(x[:, 0], [0.5, 0.7, 0.9])  # noqa: E731
    assert _ndcg(model, fresh, grades) > 0.85
    saved = LtrModel.load(model.save(tmp_path / "m1"), featureset)
    np.testing.assert_allclose(saved.predict(fresh[0].features), model.predict(fresh[0].features))


def test_unbiased_lambdamart_learns_relevance_from_position_biased_clicks():
    """Pages shown in an order that mostly follows feature 1, clicks from a position-based
    model (examined with P = 1 / rank, attracted by feature 0): the model's scores follow the
    relevance (feature 0), not the display order that drew the clicks."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    groups = []
    for q in range(400):
        x = rng.random((10, N_FEATURES)).astype(np.float32)
        x = x[np.argsort(-(0.5 * x[:, 0] + x[:, 1]))]  # the page's order
        clicks = rng.random(10) < (1.0 / np.arange(1, 11)) * x[:, 0] ** 2
        groups.append(QueryExamples(f"q{q}", [f"q{q}-{i}" for i in range(10)], x, clicks * 2.0, split_of(f"q{q}")))
    model = train(groups, default_featureset(), "clicks", labels="clicks")
    fresh = np.random.default_rng(99).random((2000, N_FEATURES)).astype(np.float32)
    scores = model.predict(fresh)
    relevance, order = spearmanr(scores, fresh[:, 0]).statistic, spearmanr(scores, fresh[:, 1]).statistic
    assert relevance > 0.8 and relevance > order + 0.4, (relevance, order)


def test_too_few_queries_is_a_clear_error():
    with pytest.raises(ValueError, match="too few queries"):
        train([e for e in _examples(10) if e.split == "train"], default_featureset(), "m")


def test_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="labels must be one of clicks, pbm"):
        train(_examples(), default_featureset(), "m", labels="grades")


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
    from es_ltrr.feedback import FeedbackStore

    data = DataDir(tmp_path / "d")
    result = cli("train", "--searches", "600", "--json")
    assert result.exit_code == 0, result.output
    assert f"no feedback logged yet: 600 simulated searches with clicks (the simulator's users) into " \
           f"{data.simulated_log} first" in result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"model", "active_model", "labels", "ndcg10_none", "ndcg10_current", "ndcg10_new",
                           "gate", "parity_max_abs_diff"}
    assert report["labels"] == "clicks" and report["judged_queries"] > 20
    assert "simulated" in report["gate"] and report["test_queries"] >= 500  # + the hand queries this slice answers
    model_dir = data.model_dir(report["model"])
    assert json.loads((model_dir / "metrics.json").read_text())["gate"]["sets"] == report["gate"]
    for png in ("feature_importance.png", "ndcg_by_intent.png"):
        assert (model_dir / "report" / png).read_bytes()[:4] == b"\x89PNG"
    assert report["by_intent"] and all(set(m) >= {"fusion", "new"} for m in report["by_intent"].values())
    assert report["activated"] == (report["active_model"] == report["model"])
    pooled_win = report["ndcg10_new"] > report["ndcg10_none"]
    no_set_worse = all(s["new"]["ndcg10"] >= s["fusion"]["ndcg10"] for s in report["gate"].values())
    assert report["activated"] == (pooled_win and no_set_worse)
    # simulated users never reached the serving log: the serving policy learned nothing from them
    assert not data.feedback_log.exists() or FeedbackStore(data.feedback_log).counts()["impressions"] == 0
    assert FeedbackStore(data.simulated_log).counts()["impressions"] == 600
    if report["activated"]:
        assert cli("train", "--rollback").exit_code == 0
        assert data.active_model() is None


def test_a_featureset_change_invalidates_models_built_on_the_old_one(tmp_path):
    from dataclasses import replace

    featureset = default_featureset()
    model = train(_examples(), featureset, "old", labels="pbm")
    model.save(tmp_path / "old")
    changed = replace(featureset, features=featureset.features[:-1])
    with pytest.raises(ValueError, match=r"model old was trained on features .* but featureset"):
        LtrModel.load(tmp_path / "old", changed)
