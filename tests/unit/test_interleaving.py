"""Team-draft interleaving: the algorithm's invariants (hypothesis), the Wilson interval, and
the simulator's demonstration — simulated users' clicks make a better ranker win and a worse
one lose, whichever side serves."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from es_ltrr.catalog import load_catalog
from es_ltrr.evaluation.simulation.traffic import generate_traffic
from es_ltrr.feedback import FeedbackLoop, FeedbackStore
from es_ltrr.feedback.interleaving_wins import outcomes
from es_ltrr.ranking import RRFRanker
from es_ltrr.ranking.team_draft import credit, team_draft, wilson
from es_ltrr.retrieval.policy import StaticPolicy


@given(items=st.lists(st.integers(0, 50), min_size=1, max_size=30, unique=True), k=st.integers(1, 40),
       seed=st.integers(0, 1000))
def test_team_draft_invariants(items, k, seed):
    a = list(items)
    b = random.Random(seed).sample(a, len(a))
    page, teams = team_draft(a, b, k, random.Random(seed))
    assert len(page) == min(k, len(a)) == len(teams) and len(set(page)) == len(page)
    for prefix in range(1, len(teams) + 1):  # the teams never differ by more than one pick
        assert abs(teams[:prefix].count("A") - teams[:prefix].count("B")) <= 1
    for item, team in zip(page, teams):  # each pick is its team's best item not yet taken
        ranking = a if team == "A" else b
        before = page[: page.index(item)]
        assert item == next(x for x in ranking if x not in before)


def test_credit_and_wilson():
    teams = {"x": "A", "y": "B", "z": "B"}
    assert credit(teams, {"y", "z"}) == "B" and credit(teams, {"x", "y"}) == "tie" and credit(teams, set()) is None
    low, high = wilson(60, 100)
    assert 0.5 < low < 0.6 < high < 0.7
    assert wilson(0, 0) == (0.0, 1.0)


@dataclass
class Reversed:
    """Fusion upside down: a deliberately worse ranker."""

    kind: str = "reversed"
    name: str = "reversed-fusion"

    def score(self, engine, text, understanding, candidates, vector=None):
        return [-s for s in RRFRanker().score(engine, text, understanding, candidates)]


@pytest.mark.parametrize("serving, challenger, challenger_better", [
    (Reversed(), RRFRanker(), True),
    (RRFRanker(), Reversed(), False),
])
def test_the_simulator_shows_the_better_ranker_winning(small_searcher, small_catalog, tmp_path, serving, challenger,
                                                       challenger_better):
    searcher = replace(small_searcher, policy=StaticPolicy(), ranker=serving, challenger=challenger, interleave_share=1.0)
    loop = FeedbackLoop(FeedbackStore(tmp_path / "feedback.sqlite3"), searcher.policy)
    generate_traffic(searcher, loop, load_catalog(small_catalog, progress=False), 300, seed=5, progress=False)
    (result,) = outcomes(loop.store)
    low, high = result.interval
    assert result.wins + result.losses > 50, result
    assert (low > 0.5) if challenger_better else (high < 0.5), result


def test_models_command_lists_models_and_interleaving(cli, tmp_path):
    result = cli("models", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"active": None, "models": [], "interleaving": []}


def test_promotion_can_require_an_interleaving_win(small_searcher, small_catalog, cli, tmp_path):
    """A model that lost its interleaving test is not promoted with --require-win; one that won is."""
    from es_ltrr.common.datadir import DataDir

    data = DataDir(tmp_path / "d")
    for name in ("winner", "loser"):
        (data.model_dir(name)).mkdir(parents=True)
    loop = FeedbackLoop(FeedbackStore(data.feedback_log), StaticPolicy())
    entities = load_catalog(small_catalog, progress=False)
    for name, serving, challenger in (("winner", Reversed(), RRFRanker()), ("loser", RRFRanker(), Reversed())):
        challenger = replace(challenger, name=name)  # the label the log records is the model's name
        searcher = replace(small_searcher, policy=StaticPolicy(), ranker=serving, challenger=challenger,
                           interleave_share=1.0)
        generate_traffic(searcher, loop, entities, 200, seed=9, progress=False)
    refused = cli("models", "--promote", "loser", "--require-win")
    assert refused.exit_code == 2 and "has not won" in refused.stderr
    assert data.active_model() is None
    promoted = cli("models", "--promote", "winner", "--require-win")
    assert promoted.exit_code == 0, promoted.output
    assert data.active_model().name == "winner"

