"""The bandit on the full catalog (slow): the simulator's slicing holds for every arm,
including HNSW kNN, and a short run shows Thompson sampling beating random arms and depths
at the same mean candidate count — a quality bar, not a timing."""

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


def test_thompson_beats_uniform_at_the_same_budget(music_searcher, entities):
    config = SimulationConfig(queries=800, report_queries=300, seed=3, policies=("uniform", "thompson"),
                              cost=0.004, progress=False)
    result = simulate(music_searcher, entities, config, say=lambda _: None)
    thompson, uniform = result.metrics["thompson"], result.metrics["uniform"]
    # the same cost: random depths beyond the floors adding as many candidates as Thompson's
    assert abs(uniform["candidates"] - thompson["candidates"]) <= 0.15 * thompson["candidates"], (thompson, uniform)
    assert thompson["recall"] >= uniform["recall"], (thompson, uniform)
    assert thompson["ndcg10"] > uniform["ndcg10"], (thompson, uniform)
