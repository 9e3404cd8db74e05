"""The simulator's machinery on the small real-data index: slicing deep responses gives what a
shallower search returns, the oracle is the cheapest finder, every policy runs through the
real pipeline tail, and `es-ltrr simulate` prints its JSON contract and writes its plots."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from es_ltrr.catalog import load_catalog
from es_ltrr.cli import main
from es_ltrr.evaluation.simulation import QueryGenerator
from es_ltrr.evaluation.simulation.experiment import SimulationConfig, simulate
from es_ltrr.evaluation.simulation.runner import oracle_decision, retrieve_all, sliced
from es_ltrr.retrieval.arms import ARMS, ArmInput
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.understanding import understand

QUERIES = ["memories maroon 5", "happy songs", "rock", "taylor swift", "dance pop 2019", "love"]


@pytest.mark.parametrize("depth", [10, 25, 50])
def test_a_sliced_deep_response_is_the_shallow_search(small_searcher, depth):
    """The simulator's speed rests on this: the top n of an arm's depth-100 search are its depth-n search."""
    arms = small_searcher.available()
    for i, query in enumerate(QUERIES):
        u = understand(query, small_searcher.gazetteer)
        inp = ArmInput(query, u, None, seed=i, catalog=small_searcher.catalog)
        deep = small_searcher.retrieve(inp, StaticPolicy({a: 100 for a in arms}).choose(None, arms))
        shallow = small_searcher.retrieve(inp, StaticPolicy({a: depth for a in arms}).choose(None, arms))
        cut = sliced(deep, {a: depth for a in arms})
        assert shallow and set(cut) == set(shallow), query
        for arm in shallow:
            assert [h["_id"] for h in cut[arm]["hits"]["hits"]] == [h["_id"] for h in shallow[arm]["hits"]["hits"]], (query, arm)


@pytest.fixture(scope="module")
def entities(small_catalog):
    return load_catalog(small_catalog, progress=False)


@pytest.fixture(scope="module")
def users(entities):
    return QueryGenerator(entities, seed=4)


def test_the_oracle_takes_the_cheapest_arm_that_finds_a_relevant_entity(small_searcher, users):
    trials = retrieve_all(small_searcher, users.generate(40, seed=4), 100, progress=False)
    arms = small_searcher.available()
    assert len(trials) == 40
    found = 0
    for trial in trials:
        decision = oracle_decision(trial, arms, (10, 25, 50, 100))
        firsts = [r for a in arms for r, id_ in enumerate(trial.arm_ids(a), 1) if id_ in trial.query.relevant]
        if not firsts:
            assert sum(decision.allocations.values()) == 0
            continue
        found += 1
        assert len(decision.chosen) == 1
        depth = decision.allocations[decision.chosen[0]]
        assert depth == min(d for d in (10, 25, 50, 100) if d >= min(firsts))
    assert found, "no arm found a relevant entity for any query: the oracle's choice went unchecked"


def test_every_policy_runs_and_learners_learn(small_searcher, entities):
    searcher = replace(small_searcher)
    result = simulate(searcher, entities, SimulationConfig(queries=80, report_queries=20, seed=2, burn_in=10,
                                                                 progress=False), say=lambda _: None)
    assert list(result.metrics) == ["all_arms", "best_single", "uniform", "epsilon_greedy", "ucb", "thompson", "oracle"]
    for name, m in result.metrics.items():
        assert 0 <= m["recall"] <= 1 and 0 <= m["ndcg10"] <= 1 and m["candidates"] >= 0, name
        assert len(result.runs[name].stream) == 80 and len(result.runs[name].report) == 20
    assert result.metrics["oracle"]["regret"] == 0
    assert result.metrics["oracle"]["recall"] >= max(m["recall"] for m in result.metrics.values())
    assert result.learned["thompson"].n_updates_ == 80
    assert result.metrics["all_arms"]["requested"] == sum(ARMS[a].default_depth for a in searcher.available())


def test_simulate_command_prints_json_and_writes_plots(cli, tmp_path):
    result = cli("simulate", "--queries", "60", "--report-queries", "10", "--json",
                 "--plots", str(tmp_path / "plots"), "--policies", "all_arms,thompson,oracle",
                 "--burn-in", "5", "--save-policy")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body["policies"]) == {"all_arms", "thompson", "oracle"}
    assert set(body["policies"]["thompson"]) >= {"recall", "mrr", "ndcg10", "candidates", "regret"}
    for png in ("regret.png", "learning.png", "recall_vs_candidates.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "d" / "policy" / "thompson.json").read_text())
    assert saved["policy"] == "thompson" and saved["learned"]["n_updates"] == 60
    # the saved state is what serving loads: past its burn-in, a search is the learned choice
    config = tmp_path / "es-ltrr.toml"
    config.write_text("[policy_options]\nburn_in = 20\n")
    search = cli("--config", str(config), "search", "rock", "--json", "--debug")
    assert search.exit_code == 0, search.output
    decision = json.loads(search.stdout)["decision"]
    assert not any("burn-in" in entry.get("forced", "") for entry in decision.values())


@pytest.mark.parametrize("args, message", [
    (["--policies", "all_arms,nope"], "unknown policies: nope"),
    (["--queries", "0"], "at least 1"),
])
def test_simulate_refuses_bad_arguments(small_catalog, tmp_path, args, message):
    runner = CliRunner()
    base = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed"]
    result = runner.invoke(main, [*base, "simulate", *args])
    assert result.exit_code != 0 and message in result.output
