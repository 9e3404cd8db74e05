"""The policy guard: the learned choice serves only once it is shown no worse than the static
allocation on searches it did not learn from (retrieval/policy/guard.py, FeedbackLoop.check_guard)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from es_ltrr.catalog import load_catalog
from es_ltrr.evaluation.simulation.clicks import ClickModel
from es_ltrr.evaluation.simulation.users import QueryGenerator
from es_ltrr.feedback import FeedbackLoop, FeedbackStore
from es_ltrr.feedback import loop as loop_module
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.policy import StaticPolicy, ThompsonPolicy
from es_ltrr.retrieval.policy.guard import Verdict, compare
from es_ltrr.search.request import SearchRequest


def _traffic(searcher, loop, entities, n, seed=3):
    users, clicks, rng = QueryGenerator(entities, seed=seed), ClickModel(), random.Random(seed)
    for i, query in enumerate(users.generate(n, seed=seed)):
        result = searcher.search(SearchRequest(query.text))
        loop.log_search(result)
        clicked = clicks.clicks(result.ids, query, rng)
        if clicked:
            loop.ingest(clicks.ubi_events(result.impression_id, result.ids, clicked, query, f"g-{seed}-{i}", "sim"))
    loop.close_unengaged(now=2e9)  # every search is past its window
    loop.fold()


def test_the_static_allocation_against_itself_differs_by_nothing(small_searcher, small_catalog, tmp_path):
    entities = load_catalog(small_catalog, progress=False)
    loop = FeedbackLoop(FeedbackStore(tmp_path / "log.sqlite3"), StaticPolicy())
    _traffic(replace(small_searcher, policy=StaticPolicy()), loop, entities, 80)
    pairs = list(loop.store.engaged_impressions())
    difference, se, n = compare(StaticPolicy(), [i for i, _ in pairs], [e for _, e in pairs], list(ARMS),
                                (10, 25, 50, 100), {a: 10 for a in ARMS})
    assert n == 80 and difference == pytest.approx(0.0, abs=1e-12)


def test_an_unproven_policy_serves_the_static_allocation_until_the_guard_decides(small_searcher, small_catalog,
                                                                                    tmp_path, monkeypatch):
    monkeypatch.setattr(loop_module, "GUARD_EVERY", 60)
    monkeypatch.setattr(loop_module, "GUARD_MIN_SEARCHES", 40)
    entities = load_catalog(small_catalog, progress=False)
    policy = ThompsonPolicy(seed=4, burn_in=20)
    saved = {}
    loop = FeedbackLoop(FeedbackStore(tmp_path / "log.sqlite3"), policy, guard_tolerance=0.02, save=saved.update)
    assert policy.trusted_ is False  # a guarded policy starts unproven
    searcher = replace(small_searcher, policy=policy)
    _traffic(searcher, loop, entities, 40)
    decision = searcher.search(SearchRequest("rock")).decision
    assert all(r.startswith("guard:") for r in decision.forced.values())  # past burn-in, still static
    assert loop.check_guard().searches == 0  # the first call only takes a snapshot
    _traffic(searcher, loop, entities, 70, seed=5)
    verdict = loop.check_guard()
    assert verdict.searches >= 60 and policy.trusted_ is verdict.trusted
    assert verdict.lower <= verdict.difference <= verdict.upper
    loop.save()
    assert saved["guard"]["trusted"] is verdict.trusted and saved["guard"]["searches"] == verdict.searches
    resumed = ThompsonPolicy(seed=4, burn_in=20)
    FeedbackLoop(loop.store, resumed, guard_tolerance=0.02, verdict=Verdict(**saved["guard"]))
    assert resumed.trusted_ is verdict.trusted


def test_a_new_ranker_withdraws_the_trust_until_shown_again(small_searcher, tmp_path):
    """What the learned depths earned was valued under the ranker of the time: when the page
    ranker changes, the static allocation serves (and the state says why) until the guard's
    next comparison, on searches served from then on."""
    policy = ThompsonPolicy(seed=4, burn_in=0)
    saved = {}
    loop = FeedbackLoop(FeedbackStore(tmp_path / "log.sqlite3"), policy, guard_tolerance=0.02, save=saved.update,
                        verdict=Verdict(True, reason="shown no worse"))
    assert policy.trusted_ is True
    searcher = replace(small_searcher, policy=policy)
    assert not searcher.search(SearchRequest("rock")).decision.forced
    loop.ranker_changed("xgboost:m1")
    assert policy.trusted_ is False and "ranker changed to xgboost:m1" in loop.verdict.reason
    assert saved["guard"]["trusted"] is False
    decision = searcher.search(SearchRequest("rock")).decision
    assert all(r.startswith("guard:") for r in decision.forced.values())
    assert loop.check_guard().searches == 0  # a fresh snapshot: only searches from now on judge it
    unguarded = FeedbackLoop(FeedbackStore(tmp_path / "other.sqlite3"), ThompsonPolicy(seed=4, burn_in=0))
    unguarded.ranker_changed("rrf")
    assert unguarded.policy.trusted_ is True  # without a guard the learned choice always serves


def test_without_a_guard_the_learned_choice_serves_after_burn_in(small_searcher):
    policy = ThompsonPolicy(seed=4, burn_in=0)
    decision = replace(small_searcher, policy=policy).search(SearchRequest("rock")).decision
    assert not decision.forced


def test_replay_decides_the_guard_from_the_log_alone(small_searcher, small_catalog, tmp_path, monkeypatch):
    """`es-ltrr replay --save`: a policy folded from all but the last searches, judged on those."""
    from es_ltrr.feedback.loop import judge_log

    monkeypatch.setattr(loop_module, "GUARD_EVERY", 50)
    monkeypatch.setattr(loop_module, "GUARD_MIN_SEARCHES", 30)
    entities = load_catalog(small_catalog, progress=False)
    policy = ThompsonPolicy(seed=6, burn_in=10)
    loop = FeedbackLoop(FeedbackStore(tmp_path / "log.sqlite3"), policy)
    _traffic(replace(small_searcher, policy=policy), loop, entities, 90)
    verdict = judge_log(loop.store, ThompsonPolicy(seed=6, burn_in=10), tolerance=0.02)
    assert verdict.searches == 50 and verdict.lower <= verdict.difference <= verdict.upper
    assert judge_log(loop.store, ThompsonPolicy(seed=6, burn_in=10), tolerance=0.02) == verdict  # from the log alone
