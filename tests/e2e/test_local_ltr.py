"""The local LTR path: featureset logged through the engine, XGBoost ranks the union."""

from dataclasses import replace

import json
import numpy as np
import pytest
import xgboost as xgb

from es_ltrr.api import parse_search_request
from es_ltrr.ranking import XGBoostRanker, default_featureset, feature_params, log_features
from es_ltrr.understanding import understand
from es_ltrr.union import Candidate, Provenance

QUERIES = ["memories", "ed sheeran", "the chainsmokers", "i dont care", "remix", "loud luxury", "dance", "summer", "love", "night"]


def _candidates(searcher, query):
    hits = searcher.search(parse_search_request({"query": query, "k": 100}))["hits"]
    return [Candidate(h["id"], h, [Provenance(a["arm"], a["rank"], a["score"]) for a in h["arms"]]) for h in hits]


def _logged(searcher, query):
    cands = _candidates(searcher, query)
    params = feature_params(query, understand(query, searcher.gazetteer), cands)
    return cands, log_features(searcher.engine, default_featureset(), params, [c.id for c in cands])


@pytest.fixture(scope="module")
def model_path(small_searcher, tmp_path_factory):
    """A real XGBoost ranker trained on logged features; label = exact title match."""
    fs = default_featureset()
    exact = fs.names.index("name_exact")
    xs, ys, groups = [], [], []
    for q in QUERIES:
        _, feats = _logged(small_searcher, q)
        xs.append(feats)
        ys.append((feats[:, exact] > 0).astype(float))
        groups.append(len(feats))
    dtrain = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=fs.names)
    dtrain.set_group(groups)
    booster = xgb.train({"objective": "rank:pairwise", "base_score": 0.0, "max_depth": 3, "eta": 0.3},
                        dtrain, num_boost_round=20)
    path = tmp_path_factory.mktemp("models") / "ltr.json"
    XGBoostRanker(booster, fs, "exact-title").save(path)
    return path


def test_every_feature_is_logged_for_every_candidate(small_searcher):
    cands, feats = _logged(small_searcher, "memories")
    fs = default_featureset()
    assert feats.shape == (len(cands), len(fs.names))
    found_lexical = feats[:, fs.names.index("found_lexical")]
    assert list(found_lexical > 0) == ["lexical" in c.arms for c in cands]
    assert (feats[:, fs.names.index("popularity")] >= 0).all()


def test_model_ranks_the_union(small_searcher, model_path):
    ranker = XGBoostRanker.load(model_path, default_featureset())
    searcher = replace(small_searcher, ranker=ranker)
    result = searcher.search(parse_search_request({"query": "maroon 5", "k": 20}))
    assert result["ranker"] == "xgboost:exact-title"
    scores = [h["score"] for h in result["hits"]]
    assert scores == sorted(scores, reverse=True)
    # the scores are the model's predictions on freshly logged features
    cands, feats = _logged(small_searcher, "maroon 5")
    predicted = dict(zip([c.id for c in cands], ranker.predict(feats)))
    exact = dict(zip([c.id for c in cands], feats[:, default_featureset().names.index("name_exact")]))
    assert exact[result["hits"][0]["id"]] == max(exact.values()) > 0  # it learned "exact title first"
    for hit in result["hits"]:
        assert hit["score"] == pytest.approx(float(predicted[hit["id"]]), abs=1e-5)


def test_model_from_another_featureset_is_refused(model_path, tmp_path):
    meta = json.loads(model_path.with_suffix(".meta.json").read_text())
    meta["features"] = meta["features"][:-1]
    other = tmp_path / "m.json"
    other.write_bytes(model_path.read_bytes())
    other.with_suffix(".meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trained on features"):
        XGBoostRanker.load(other, default_featureset())


def test_app_uses_the_model_file_when_present(small_catalog, model_path, tmp_path):
    from es_ltrr.app import build_searcher
    from es_ltrr.config import Settings

    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path, embed=False, model=model_path)
    searcher = build_searcher(settings, say=lambda _: None)
    assert searcher.search(parse_search_request({"query": "remix"}))["ranker"] == "xgboost:exact-title"
