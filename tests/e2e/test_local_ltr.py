"""The local LTR path: featureset logged through the engine, XGBoost ranks the union.

The model is trained on *judgments that are not a feature* (a grade from the words a
query shares with an entity's name and artist, as an assessor would give it), so the
tests check learning, not plumbing: on held-out queries the model must rank the judged
items better than the fusion it replaces.
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import xgboost as xgb

from es_ltrr.ranking import XGBoostRanker
from es_ltrr.ranking.ltr import LtrModel, default_featureset, feature_params, log_features
from es_ltrr.serving.contract import parse_search_request

from ..judgments import grade, ndcg_at

TRAIN = ["memories", "ed sheeran", "the chainsmokers", "i dont care", "remix", "loud luxury", "dance",
         "summer", "love", "night", "bad", "shape", "girls", "lights", "party", "heart"]
HELD_OUT = ["maroon 5", "closer", "happy", "dreams", "tropical remix", "someone", "fire", "one kiss"]


def _search(searcher, query, k=100):
    return searcher.search(parse_search_request({"query": query, "k": k}))


def _features(searcher, result):
    """Logged features of one served search's candidates (the record has all it needs)."""
    cands = list(result.candidates)
    params = feature_params(result.request.query, result.understanding, cands)
    return log_features(searcher.engine, default_featureset(), params, [c.id for c in cands])


def _logged(searcher, query):
    result = _search(searcher, query)
    return list(result.candidates), _features(searcher, result)


@pytest.fixture(scope="module")
def model_path(small_searcher, tmp_path_factory):
    """A real XGBoost ranker trained on logged features and assessor grades."""
    fs = default_featureset()
    xs, ys, groups = [], [], []
    for q in TRAIN:
        cands, feats = _logged(small_searcher, q)
        xs.append(feats)
        ys.append([grade(q, c.source) for c in cands])
        groups.append(len(feats))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:ndcg", "base_score": 0.0, "max_depth": 3, "eta": 0.3, "seed": 1},
                        dtrain, num_boost_round=30)
    return LtrModel(booster, fs, "word-grades").save(tmp_path_factory.mktemp("models") / "word-grades")


def test_every_feature_is_logged_for_every_candidate(small_searcher):
    cands, feats = _logged(small_searcher, "memories")
    fs = default_featureset()
    assert feats.shape == (len(cands), len(fs.names))
    found_lexical = feats[:, fs.names.index("found_lexical")]
    assert list(found_lexical > 0) == ["lexical" in c.arms for c in cands]
    assert (feats[:, fs.names.index("log_popularity")] > 0).all()  # ln(2 + popularity): matches every doc, > 0


def test_model_beats_fusion_on_held_out_queries(small_searcher, model_path):
    ranker = XGBoostRanker(LtrModel.load(model_path, default_featureset()))
    learned = replace(small_searcher, ranker=ranker)
    fused, ranked = [], []
    for q in HELD_OUT:
        fused.append(ndcg_at([grade(q, c.source) for c, _ in _search(small_searcher, q, 10).hits]))
        ranked.append(ndcg_at([grade(q, c.source) for c, _ in _search(learned, q, 10).hits]))
    assert np.mean(ranked) > np.mean(fused), (ranked, fused)


def test_model_scores_are_its_predictions(small_searcher, model_path):
    ranker = XGBoostRanker(LtrModel.load(model_path, default_featureset()))
    result = _search(replace(small_searcher, ranker=ranker), "maroon 5", 20)
    assert result.ranker == "xgboost:word-grades" and result.hits
    scores = [score for _, score in result.hits]
    assert scores == sorted(scores, reverse=True)
    feats = _features(small_searcher, result)  # same candidates, same explore draw
    predicted = dict(zip([c.id for c in result.candidates], ranker.model.predict(feats)))
    for cand, score in result.hits:
        assert score == pytest.approx(float(predicted[cand.id]), abs=1e-5)


def test_model_from_another_featureset_is_refused(model_path, tmp_path):
    import shutil

    other = shutil.copytree(model_path, tmp_path / "m")
    meta = json.loads((other / "metadata.json").read_text())
    meta["features"] = meta["features"][:-1]
    (other / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trained on features"):
        LtrModel.load(other, default_featureset())


def test_a_corrupt_model_file_is_a_clear_error(model_path, tmp_path):
    import shutil

    other = shutil.copytree(model_path, tmp_path / "m")
    (other / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot load model"):
        LtrModel.load(other, default_featureset())


def test_app_uses_the_model_file_when_present(small_catalog, model_path, tmp_path):
    from es_ltrr.common.settings import Settings
    from es_ltrr.serving.wiring import build_searcher

    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path, embed=False, model=model_path)
    searcher = build_searcher(settings, say=lambda _: None)
    assert searcher.search(parse_search_request({"query": "remix"})).ranker == "xgboost:word-grades"
