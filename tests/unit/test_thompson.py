"""The learning policies' statistics against closed forms, and their decisions' invariants
(hypothesis): posterior updates, forgetting, counterfactual depth rewards (page gain beyond
the floors), the budgeted allocation from the floors, propensity estimates, seeds and
learning on a synthetic problem."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.policy import POLICIES, PolicyContext, ThompsonPolicy
from es_ltrr.retrieval.policy.allocation import allocate_depths
from es_ltrr.retrieval.policy.features import DIM, FEATURES, featurize
from es_ltrr.retrieval.policy.linear import NOISE_PRIOR_OBS, BayesLinearBank
from es_ltrr.retrieval.policy.rewards import arm_depth_rewards
from es_ltrr.retrieval.union import ArmResult

ALL = list(ARMS)
contexts = st.builds(
    PolicyContext,
    intent=st.sampled_from(["known_item", "artist", "genre", "mood", "entity_browse", "unknown", "new-intent"]),
    slot_kinds=st.lists(st.sampled_from(["artist", "mood", "genre", "track", "era"]), max_size=3).map(tuple),
    n_tokens=st.integers(0, 12),
    request_context=st.dictionaries(st.sampled_from(["segment", "top_genres"]), st.text(max_size=8), max_size=2),
    intent_confidence=st.floats(0, 1),
    misspelled=st.booleans(),
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
)


def test_posterior_matches_the_closed_form():
    rng = np.random.default_rng(0)
    x, r = rng.normal(size=(40, 5)), rng.random(40)
    prior = np.array([[0.5, 0, 0, 0, 0]])
    bank = BayesLinearBank(1, 5, prior, prior_precision=2.0, noise=0.3)
    for xi, ri in zip(x, r):
        bank.learn(xi, np.array([0]), np.array([ri]))
    precision = 2.0 * np.eye(5) + x.T @ x
    np.testing.assert_allclose(bank.precision_[0], precision)
    np.testing.assert_allclose(bank.mean_[0], np.linalg.solve(precision, 2.0 * prior[0] + x.T @ r))
    theta = np.linalg.solve(precision, 2.0 * prior[0] + x.T @ r)
    ssr = np.sum((r - x @ theta) ** 2)  # the residuals pooled with the prior guess of the noise
    noise = np.sqrt((NOISE_PRIOR_OBS * 0.3 ** 2 + ssr) / (NOISE_PRIOR_OBS + 40))
    mean, std = bank.predict(x[0])
    np.testing.assert_allclose(std[0], noise * np.sqrt(x[0] @ np.linalg.solve(precision, x[0])))


@settings(max_examples=30, deadline=None)
@given(true_noise=st.floats(0.01, 0.6), n=st.integers(200, 600), seed=st.integers(0, 1000))
def test_the_noise_is_learned_from_the_residuals(true_noise, n, seed):
    """Rewards with a known spread around a linear truth: the learned σ approaches it as the
    prior guess's weight fades; a state saved without residuals keeps the prior guess."""
    rng = np.random.default_rng(seed)
    bank = BayesLinearBank(1, 3, noise=0.3)
    for _ in range(n):
        x = np.r_[1.0, rng.random(2)]
        bank.learn(x, np.array([0]), np.array([0.2 + 0.3 * x[1] + rng.normal(0, true_noise)]))
    expected = np.sqrt((NOISE_PRIOR_OBS * 0.09 + n * true_noise ** 2) / (NOISE_PRIOR_OBS + n))
    assert bank.noise_()[0] == pytest.approx(expected, rel=0.2)
    old = {k: v for k, v in bank.state().items() if k != "rr"}
    resumed = BayesLinearBank(1, 3, noise=0.3)
    resumed.load_state(old)
    assert resumed.noise_()[0] == pytest.approx(0.3)


def test_forgetting_matches_the_closed_form():
    """With discount γ, P_n = P0 + Σ γ^(n-i) x_i x_iᵀ and b_n = b0 + Σ γ^(n-i) r_i x_i."""
    rng = np.random.default_rng(1)
    x, r, gamma = rng.normal(size=(30, 4)), rng.random(30), 0.9
    bank = BayesLinearBank(2, 4, prior_precision=1.5, discount=gamma)
    for xi, ri in zip(x, r):
        bank.learn(xi, np.array([1]), np.array([ri]))
    weights = gamma ** np.arange(29, -1, -1)
    np.testing.assert_allclose(bank.precision_[1], 1.5 * np.eye(4) + (x.T * weights) @ x)
    np.testing.assert_allclose(bank.b_[1], (x.T * weights) @ r)
    np.testing.assert_allclose(bank.precision_[0], 1.5 * np.eye(4))  # untouched model stays at its prior


IDS = [f"d{i}" for i in range(120)]


@given(ids=st.lists(st.sampled_from(IDS), max_size=60, unique=True),
       gains=st.dictionaries(st.sampled_from(IDS), st.floats(0.01, 2), max_size=20),
       free=st.sets(st.sampled_from(IDS), max_size=20), requested=st.integers(1, 60))
def test_depth_rewards_are_exactly_what_the_list_shows(ids, gains, free, requested):
    ids = ids[:requested]
    menu = [10, 25, 50, 100]
    got = arm_depth_rewards(ArmResult("lexical", requested, tuple(ids)), requested, gains, free, menu)
    for depth in menu:
        truth = sum(gains.get(i, 0.0) for i in ids[:depth] if i not in free)
        if depth <= requested or len(ids) < requested:
            assert got[depth] == pytest.approx(truth)  # inside what ran, or the arm ran dry: known
        else:
            assert depth not in got  # deeper than it ran: unknown, never made up
    known = [got[d] for d in menu if d in got]
    assert known == sorted(known)  # a deeper list never earns less


def test_failed_arms_teach_nothing_and_inapplicable_arms_teach_zero():
    assert arm_depth_rewards(ArmResult("q2e", 25, error="boom"), 25, {"a": 1.0}, set(), [10, 25]) == {}
    assert arm_depth_rewards(None, 25, {"a": 1.0}, set(), [10, 25]) == {10: 0.0, 25: 0.0}


def test_a_page_gain_credits_the_depth_that_found_it_beyond_the_floors():
    """"e" engaged at page position 1: lexical found it at rank 12 (beyond its floor of 10),
    semantic at rank 30 — both credited at the depths that reach it; "f", at position 3,
    was in structured's floor: nobody's credit."""
    from types import SimpleNamespace

    from es_ltrr.retrieval.policy import Decision
    from es_ltrr.retrieval.policy.rewards import depth_rewards

    lists = {"lexical": [f"l{i}" for i in range(11)] + ["e"] + [f"l{i}" for i in range(12, 50)],
             "semantic": [f"s{i}" for i in range(29)] + ["e"] + [f"s{i}" for i in range(30, 50)],
             "structured": ["f"] + [f"t{i}" for i in range(1, 10)]}
    decision = Decision({"lexical": 50, "semantic": 50, "structured": 10}, {}, "static")
    results = {a: ArmResult(a, decision.allocations[a], tuple(ids)) for a, ids in lists.items()}
    record = SimpleNamespace(decision=decision, ids=("e", "x", "f"), arm_result=results.get)
    floors = {"lexical": 10, "semantic": 10, "structured": 10}
    rewards = depth_rewards(record, {"e": 1.0, "f": 1.0}, [10, 25, 50], floors)
    assert rewards["lexical"] == {10: 0.0, 25: 1.0, 50: 1.0}  # 1 / log2(1 + 1)
    assert rewards["semantic"] == {10: 0.0, 25: 0.0, 50: 1.0}
    assert rewards["structured"] == {10: 0.0}  # ran dry at 10: deeper is known, and "f" is free
    assert depth_rewards(record, {}, [10, 25, 50], floors)["lexical"] == {10: 0.0, 25: 0.0, 50: 0.0}


@given(values=st.lists(st.floats(-1, 2), min_size=24, max_size=24), budget=st.integers(0, 400),
       cost=st.floats(0, 0.02), floors=st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_allocation_starts_at_the_floors_and_never_exceeds_the_budget(values, budget, cost, floors):
    depths = np.array([10, 25, 50, 100])
    floors = np.array(floors)
    unique = np.where(np.arange(4)[None, :] > floors[:, None], (depths[None, :] - depths[floors][:, None]) * 0.8, 0.0)
    v = np.where(np.arange(4)[None, :] > floors[:, None], np.array(values).reshape(6, 4), 0.0)[None]
    choice = allocate_depths(v, unique, floors, cost, budget)[0]
    assert (choice >= floors).all()
    assert unique[np.arange(6), choice].sum() <= budget
    unbounded = allocate_depths(v, unique, floors, cost, float("inf"))[0]
    net = v[0] - cost * unique
    for arm in range(6):  # without a binding budget: each arm's best net gain at or beyond its floor
        best = floors[arm] + net[arm, floors[arm]:].argmax()
        assert net[arm, unbounded[arm]] == pytest.approx(net[arm, best])


@settings(max_examples=40, deadline=None)
@given(context=contexts, budget=st.integers(0, 300), available=st.lists(st.sampled_from(ALL), min_size=1, unique=True))
def test_thompson_decisions_are_valid_and_reproducible(context, budget, available):
    make = lambda: ThompsonPolicy(seed=5, burn_in=0, budget=budget, draws=64)
    first, second = make().choose(context, available), make().choose(context, available)
    assert first == second
    policy = make()
    added = {a: policy.added_[policy.arms.index(a), policy.depths.index(d)] for a, d in first.allocations.items()}
    assert sum(added.values()) <= budget  # the candidates added beyond the floors, as the policy expects them
    assert all(d >= ARMS[a].floor for a, d in first.allocations.items())  # every arm votes
    assert list(first.allocations) == available
    assert all(0.0 < first.propensities[a] <= 1.0 for a in available)
    for arm in available:
        assert first.depths[arm][first.allocations[arm]] == first.propensities[arm]
        assert sum(first.depths[arm].values()) == pytest.approx(1.0)


def test_propensity_estimate_matches_the_closed_form():
    """One arm, depths 10 (its floor) and 25, no binding budget: P(depth 25) = P(draw − cost·u > 0)
    = Φ((m − c·u)/s), u the candidates depth 25 is expected to add."""
    policy = ThompsonPolicy(seed=3, burn_in=0, depths=[10, 25], cost=0.03, draws=4096, prior_value=0.4)
    context = PolicyContext("artist", ("artist",), 2)
    decision = policy.choose(context, ["lexical"])
    mean, std = policy._posterior(featurize(context), ["lexical"])
    added = policy.added_[policy.arms.index("lexical"), 1] / policy.added_n_[policy.arms.index("lexical"), 1]
    closed = norm.sf((0.03 * added - mean[0, 1]) / std[0, 1])
    estimate = decision.depths["lexical"][25]
    assert abs(estimate - closed) < 3 * np.sqrt(closed * (1 - closed) / 4096)


def test_forced_arms_have_propensity_one_and_say_so():
    policy = ThompsonPolicy(seed=0, burn_in=0, force={"lexical": 10})
    decision = policy.choose(PolicyContext("unknown", (), 3), ALL)
    assert decision.allocations["lexical"] == 10 and decision.propensities["lexical"] == 1.0
    assert decision.forced == {"lexical": "rule: force"}
    burn = ThompsonPolicy(seed=0, burn_in=5).choose(PolicyContext("unknown", (), 3), ALL)
    assert set(burn.forced) == set(ALL) and "burn-in" in burn.forced["lexical"]


@pytest.mark.parametrize("bad", [dict(budget=-1), dict(depths=[0, 10]), dict(force={"lexial": 10}),
                                 dict(floors={"lexial": 10}), dict(floors={"lexical": 0}), dict(discount=0.0)])
def test_bad_hyper_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        ThompsonPolicy(**bad)


def test_state_of_another_feature_layout_is_refused():
    policy = ThompsonPolicy(seed=1)
    state = policy.state()
    state["learned"]["features"] = state["learned"]["features"][:-1]
    with pytest.raises(ValueError, match="other features"):
        ThompsonPolicy().load_state(state)


def test_features_are_named_and_context_is_hashed_stably():
    x = featurize(PolicyContext("mood", ("mood",), 2, {"segment": "new", "top_genres": ["rock", "pop"]}, hour=22, weekday=6))
    on = {FEATURES[i] for i in np.flatnonzero(x)}
    assert {"bias", "intent=mood", "slot=mood", "tokens=2", "weekend", "day_part=evening"} <= on
    assert x[[i for i, f in enumerate(FEATURES) if f.startswith("context#")]].sum() == pytest.approx(1.0)
    assert len(x) == DIM


class Synthetic:
    """Arm `good[intent]` holds the target at rank 20 — beyond every floor; every other arm
    misses. The user finds it on the page (position 1) when it was retrieved."""

    good = {"artist": "lexical", "mood": "structured", "known_item": "q2e"}

    def record(self, policy, intent, rng):
        from types import SimpleNamespace

        context = PolicyContext(intent, (), 2)
        decision = policy.choose(context, ALL)
        results = {a: ArmResult(a, n, tuple(["t" if (a == self.good[intent] and r == 19) else f"{a}{r}"
                                               for r in range(n)])) for a, n in decision.allocations.items() if n}
        found = any("t" in r.ids for r in results.values())
        record = SimpleNamespace(context=context, decision=decision, arm_result=results.get,
                                 ids=("t",) if found else ("x",))
        return record, decision


@pytest.mark.parametrize("name", ["thompson", "ucb", "epsilon_greedy"])
def test_learns_which_arm_to_deepen_for_which_context(name):
    policy = POLICIES[name](seed=2, burn_in=20, cost=0.002)
    world, rng = Synthetic(), np.random.default_rng(0)
    for t in range(400):
        intent = list(world.good)[t % 3]
        record, _ = world.record(policy, intent, rng)
        policy.update(record, {"t": 1.0})
    hits, candidates = 0, 0
    for t in range(90):
        intent = list(world.good)[t % 3]
        decision = policy.choose(PolicyContext(intent, (), 2), ALL)
        hits += decision.allocations[world.good[intent]] >= 25
        candidates += decision.candidates_requested
    assert hits >= 75, hits  # ε-greedy explores at random on 10 % of queries
    assert candidates / 90 <= 120, candidates / 90  # the floors are 60; every arm at 100 would be 600


@pytest.mark.parametrize("name", ["thompson", "ucb", "epsilon_greedy", "uniform"])
def test_a_learned_state_round_trips_to_identical_decisions(name):
    import json

    policy = POLICIES[name](seed=4, burn_in=10)
    world, rng = Synthetic(), np.random.default_rng(0)
    for t in range(60):
        record, _ = world.record(policy, list(world.good)[t % 3], rng)
        policy.update(record, {"t": 1.0})
    resumed = POLICIES[name](seed=999, burn_in=10)
    resumed.load_state(json.loads(json.dumps(policy.state())))
    contexts = [PolicyContext(i, (), 2, {"segment": "x"}) for i in world.good] * 5
    assert [resumed.choose(c, ALL) for c in contexts] == [policy.choose(c, ALL) for c in contexts]
    assert not any(policy.choose(c, ALL).forced for c in contexts[:3])  # past burn-in: the learned choice


@pytest.mark.parametrize("name", ["thompson", "ucb", "epsilon_greedy", "uniform"])
def test_every_arm_forced_or_none_available(name):
    policy = POLICIES[name](seed=1, burn_in=0, force={"lexical": 10})
    assert policy.choose(PolicyContext("artist", (), 1), ["lexical"]).allocations == {"lexical": 10}
    assert policy.choose(PolicyContext("artist", (), 1), []).allocations == {}
