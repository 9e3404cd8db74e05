"""Conformance checks every arm-selection policy must pass (like river's test_policies).

Each policy in `es_ltrr.retrieval.policy.POLICIES` is built with its defaults and a seed, and must:
decide for exactly the available arms with non-negative depths and propensities in [0, 1];
replay the same decisions from the same seed; round-trip its state through JSON (decisions
after `load_state` equal those of the original); refuse another policy's state; and accept
`update` from a real served search (entity engagement) while refusing malformed engagement.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.policy import POLICIES, Decision, PolicyContext, StaticPolicy
from es_ltrr.serving.contract import parse_search_request

CONTEXTS = [
    PolicyContext("artist", ("artist",), 2),
    PolicyContext("unknown", (), 4, {"segment": "new"}),
    PolicyContext("mood", ("mood", "entity_type"), 2),
]
AVAILABLE = [list(ARMS), [a for a in ARMS if a != "semantic"], ["lexical"]]


@pytest.fixture(params=sorted(POLICIES))
def make(request):
    cls = POLICIES[request.param]
    return lambda seed=7: cls(seed=seed)


def _decisions(policy, rounds=5):
    return [policy.choose(c, a) for _ in range(rounds) for c in CONTEXTS for a in AVAILABLE]


def test_decides_for_exactly_the_available_arms(make):
    policy = make()
    for context in CONTEXTS:
        for available in AVAILABLE:
            d = policy.choose(context, available)
            assert isinstance(d, Decision) and d.policy == policy.name
            assert list(d.allocations) == available
            assert all(isinstance(n, int) and n >= 0 for n in d.allocations.values())
            assert set(d.propensities) <= set(available)
            assert all(0.0 <= p <= 1.0 for p in d.propensities.values())
            assert all(d.propensities.get(a, 0.0) > 0 for a in d.chosen)


def test_same_seed_same_decisions(make):
    assert _decisions(make(3)) == _decisions(make(3))


def test_state_round_trips_through_json(make):
    policy = make()
    _decisions(policy, 2)
    state = json.loads(json.dumps(policy.state()))
    resumed = make(seed=999)
    resumed.load_state(state)
    assert resumed.state() == policy.state()
    assert _decisions(resumed) == _decisions(policy)


def test_refuses_foreign_or_future_state(make):
    policy = make()
    with pytest.raises(ValueError, match="belongs to policy"):
        policy.load_state({**policy.state(), "policy": "someone-else"})
    with pytest.raises(ValueError, match="version"):
        policy.load_state({**policy.state(), "version": 999})


def test_updates_from_a_served_search(make, small_searcher):
    policy = make()
    searcher = replace(small_searcher, policy=policy)
    record = searcher.search(parse_search_request({"query": "memories maroon 5"}))
    policy.update(record, {record.ids[0]: 1.0, "never-shown": -1.0})
    with pytest.raises(ValueError, match="engagement maps entity ids to numbers"):
        policy.update(record, {record.ids[0]: "lots"})


def test_decisions_after_learning_stay_valid(make, small_searcher):
    """Past burn-in the learning policies decide for themselves: still exactly the available
    arms, each at least at its floor, propensities in (0, 1] for every arm they decided on,
    never adding more candidates than their budget (as they expect them)."""
    policy = make()
    policy.burn_in = 10  # a hyper-parameter of the learning policies; the static one has none
    searcher = replace(small_searcher, policy=policy)
    for query in ["memories maroon 5", "happy songs", "rock", "taylor swift"] * 15:
        record = searcher.search(parse_search_request({"query": query}))
        policy.update(record, {record.ids[0]: 1.0} if record.ids else {})
    for context in CONTEXTS:
        for available in AVAILABLE:
            d = policy.choose(context, available)
            assert list(d.allocations) == available
            if hasattr(policy, "budget"):
                added = [policy.added_[policy.arms.index(a), policy.depths.index(n)]
                         / policy.added_n_[policy.arms.index(a), policy.depths.index(n)] for a, n in d.allocations.items()]
                assert sum(added) <= policy.budget + 1e-9
                assert all(n >= policy.floors[a] for a, n in d.allocations.items())
                assert all(0.0 < d.propensities[a] <= 1.0 for a in available)


def test_static_policy_derives_from_the_registry():
    assert StaticPolicy().allocation == {name: arm.default_depth for name, arm in ARMS.items()}


@pytest.mark.parametrize("allocation, message", [
    ({"lexial": 50}, "unknown arm"),
    ({"lexical": -1}, "non-negative"),
    ({"lexical": 2.5}, "non-negative"),
])
def test_static_policy_refuses_bad_allocations(allocation, message):
    with pytest.raises(ValueError, match=message):
        StaticPolicy(allocation)


@pytest.mark.parametrize("name", sorted(set(POLICIES) - {"static"}))
def test_hyper_parameters_are_explicit_and_checked(name):
    """As scikit-learn estimators: every hyper-parameter is a named constructor argument (no
    **kwargs to hide them), an unknown one is refused, and a value of the wrong kind is a
    ValueError naming it — whatever the policy."""
    from inspect import Parameter, signature

    from es_ltrr.serving.wiring import make_policy

    params = signature(POLICIES[name]).parameters
    assert {"seed", "cost", "budget", "burn_in", "depths"} <= set(params)
    assert all(p.kind is not Parameter.VAR_KEYWORD for p in params.values())
    with pytest.raises(ValueError, match="unexpected keyword argument 'costs'"):
        make_policy(name, {"costs": 0.1})
    for option in ("cost", "budget", "burn_in", "noise"):
        with pytest.raises(ValueError, match=f"^{option} must be"):
            make_policy(name, {option: "high"})
    own = set(params) - set(signature(POLICIES["thompson"]).parameters) | ({"draws"} & set(params))
    for option in own - {"mean_candidates", "explore_candidates"}:
        with pytest.raises(ValueError, match=f"^{option} must be"):
            make_policy(name, {option: -1})
