"""The bandit on the full catalog (slow): the simulator's slicing holds for every arm,
including HNSW kNN, and a short run shows Thompson sampling keeping every arm's page quality
at about half its candidates, and no worse than random depths — a quality bar, not a timing."""

from __future__ import annotations

import pytest

from es_ltrr.catalog import load_catalog
from es_ltrr.evaluation.simulation.experiment import SimulationConfig, simulate
from es_ltrr.evaluation.simulation.runner import sliced
from es_ltrr.retrieval.arms import ArmInput
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.understanding import understand

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def entities(music_settings):
    return load_catalog(music_settings.catalog, progress=False)


def test_sliced_deep_responses_are_shallow_searches_on_the_full_catalog(music_searcher):
    arms = music_searcher.available()
    assert "semantic" in arms
    for i, query in enumerate(["tayler love", "sad songs", "80s rock", "eminem albums", "chill music for studying"]):
        u = understand(query, music_searcher.gazetteer)
        inp = ArmInput(query, u, music_searcher.encoder.encode_query(query), seed=i, catalog=music_searcher.catalog)
        deep = music_searcher.retrieve(inp, StaticPolicy({a: 100 for a in arms}).choose(None, arms))
        for depth in (10, 25, 50):
            shallow = music_searcher.retrieve(inp, StaticPolicy({a: depth for a in arms}).choose(None, arms))
            cut = sliced(deep, {a: depth for a in arms})
            assert shallow and set(cut) == set(shallow), (query, depth)
            for arm in shallow:
                ids = [h["_id"] for h in shallow[arm]["hits"]["hits"]]
                assert [h["_id"] for h in cut[arm]["hits"]["hits"]] == ids, (query, arm, depth)


def test_thompson_keeps_all_arms_quality_at_half_its_candidates(music_searcher, entities):
    """800 searches (500 past burn-in): the learned depths keep every arm's page quality with
    about half its candidates, and learning does not lose to chance (random depths)."""
    config = SimulationConfig(queries=800, report_queries=300, seed=3, policies=("all_arms", "uniform", "thompson"),
                              cost=0.004, progress=False)
    result = simulate(music_searcher, entities, config, say=lambda _: None)
    thompson, uniform, all_arms = (result.metrics[p] for p in ("thompson", "uniform", "all_arms"))
    assert thompson["candidates"] <= 0.6 * all_arms["candidates"], (thompson, all_arms)
    assert thompson["ndcg10"] >= all_arms["ndcg10"] - 0.01, (thompson, all_arms)
    assert thompson["recall"] >= all_arms["recall"] - 0.03, (thompson, all_arms)
    assert thompson["ndcg10"] >= uniform["ndcg10"] - 0.01, (thompson, uniform)
