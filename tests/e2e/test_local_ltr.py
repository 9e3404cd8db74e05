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
from es_ltrr.ranking.ltr.sidecar_features import rank_value
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
    params = feature_params(result.request.query, result.understanding, cands, result.vector, searcher.engine.flavor)
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
    rank_lexical = feats[:, fs.names.index("rank_lexical")]
    assert list(~np.isnan(rank_lexical)) == ["lexical" in c.arms for c in cands]
    for cand, value in zip(cands, rank_lexical):  # the engine scored each candidate with its own rank's value
        rank = next((p.rank for p in cand.provenance if p.arm == "lexical"), None)
        assert (np.isnan(value) if rank is None else value == pytest.approx(rank_value(rank), rel=1e-6))
    assert (feats[:, fs.names.index("arms_found")] == [len(set(c.arms)) for c in cands]).all()
    assert np.isnan(feats[:, fs.names.index("vector_similarity")]).all()  # no encoder here: no query vector
    assert (feats[:, fs.names.index("log_popularity")] > 0).all()  # ln(2 + popularity): matches every doc, > 0


@pytest.mark.slow
def test_vector_similarity_is_the_cosine_of_every_candidate(music_searcher):
    """With an encoder, every candidate gets (1 + cos) / 2 — the semantic arm's own score for
    those it found, and the same measure for those only other arms found."""
    result = _search(music_searcher, "songs to dance to at a party")
    cands, feats = list(result.candidates), _features(music_searcher, result)
    cosine = feats[:, default_featureset().names.index("vector_similarity")]
    assert result.vector is not None and np.isfinite(cosine).all() and ((cosine > 0.5) & (cosine <= 1.0)).all()
    semantic = [(i, p.score) for i, c in enumerate(cands) for p in c.provenance if p.arm == "semantic"]
    assert len(semantic) >= 10 and len(semantic) < len(cands)
    assert all(cosine[i] == pytest.approx(score, abs=1e-5) for i, score in semantic)


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


def test_an_active_model_of_another_featureset_is_not_served(small_catalog, model_path, tmp_path, caplog):
    """After an upgrade that changed the features, the data dir's active model ranks nothing
    wrongly and stops nothing: the sidecar serves fusion and says to retrain; a model the
    settings name explicitly is still an error."""
    import shutil

    from es_ltrr.common.datadir import DataDir
    from es_ltrr.common.settings import Settings
    from es_ltrr.serving.wiring import build_searcher

    data = DataDir(tmp_path / "d")
    old = shutil.copytree(model_path, data.model_dir("old-features"))
    meta = json.loads((old / "metadata.json").read_text())
    (old / "metadata.json").write_text(json.dumps({**meta, "features": ["found_lexical", *meta["features"][1:]]}))
    data.activate_model("old-features")
    settings = Settings.load(env={}, catalog=small_catalog, data_dir=data.root, embed=False)
    with caplog.at_level("WARNING"):
        searcher = build_searcher(settings, say=lambda _: None)
    assert searcher.search(parse_search_request({"query": "remix"})).ranker == "rrf"
    assert "trained on features" in caplog.text and "es-ltrr train" in caplog.text
    with pytest.raises(ValueError, match="trained on features"):
        build_searcher(replace(settings, model=old), say=lambda _: None)


def test_a_model_that_fusion_beats_in_interleaving_is_rolled_back(small_catalog, model_path, tmp_path, monkeypatch):
    """`es-ltrr serve` interleaves a serving model with fusion on a share of searches; once
    fusion wins with 95 % confidence over enough pages, the model is rolled back by itself."""
    import shutil

    from es_ltrr.common.datadir import DataDir
    from es_ltrr.common.settings import Settings
    from es_ltrr.feedback import FeedbackLoop, FeedbackStore
    from es_ltrr.retrieval.policy import StaticPolicy
    from es_ltrr.serving import process
    from es_ltrr.serving.wiring import build_searcher

    monkeypatch.setattr(process, "MODEL_GUARD_MIN", 60)
    data = DataDir(tmp_path / "d")
    shutil.copytree(model_path, data.model_dir("word-grades"))
    data.activate_model("word-grades")
    settings = Settings.load(env={}, catalog=small_catalog, data_dir=data.root, embed=False)
    searcher = replace(build_searcher(settings, say=lambda _: None), policy=StaticPolicy())
    assert searcher.challenger is None  # outside `serve` nothing is interleaved
    loop = FeedbackLoop(FeedbackStore(data.feedback_log), searcher.policy)
    follower = process.ModelFollower(settings, searcher, loop.store)
    assert searcher.challenger is searcher.fallback and searcher.interleave_share == settings.model_guard_share
    searcher.interleave_share = 1.0  # every page interleaved, so the test needs few searches
    for i in range(80):
        result = searcher.search(parse_search_request({"query": ["remix", "love", "summer", "dance"][i % 4]}))
        assert result.champion == "xgboost:word-grades" and result.challenger == "rrf"
        loop.log_search(result)
        fusion_pick = next((doc for doc, team in result.teams.items() if team == "B"), None)
        if fusion_pick:  # the user clicks what fusion placed
            loop.ingest([{"query_id": result.impression_id, "action_name": "play", "object_id": fusion_pick}])
    follower()
    assert data.active_model() is None and searcher.ranker.kind == "rrf" and searcher.challenger is None
