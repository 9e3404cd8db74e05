"""Off-policy estimators (`es_ltrr/retrieval/policy/ope.py`) against closed forms on a synthetic
semi-bandit with known reward means and a known logging distribution: IPS, SNIPS and DR
unbiased under both observation rules, SNIPS = IPS when the weights average exactly 1, DR =
DM when the model has no residual, the on-policy target recovering the log's own value; and
the batch built from real record-like objects (rewards known only up to the logged depth)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from es_ltrr.retrieval.policy import Decision, PolicyContext
from es_ltrr.retrieval.policy.ope import (
    LoggedBatch,
    depth_distribution,
    evaluate,
    fit_direct,
    logged_batch,
    on_record_value,
    weights,
)
from es_ltrr.retrieval.union import ArmResult

MENU = (0, 10, 25, 50)
#: P(the arm's top-d holds what the user wants), per arm and menu depth (0 earns nothing).
MEANS = np.array([[0.0, 0.3, 0.5, 0.6], [0.0, 0.1, 0.2, 0.5], [0.0, 0.05, 0.3, 0.35]])
LOGGING = np.array([[0.1, 0.3, 0.3, 0.3], [0.4, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]])


def synthetic(n: int, seed: int, logging: np.ndarray = LOGGING) -> LoggedBatch:
    """n searches: a logged depth per arm drawn from `logging`, nested Bernoulli rewards
    (one uniform per arm and search, so r is non-decreasing in depth as in a ranked list),
    known only up to the logged depth."""
    rng = np.random.default_rng(seed)
    n_arms, k = logging.shape
    idx = np.stack([rng.choice(k, size=n, p=logging[a]) for a in range(n_arms)], axis=1)
    u = rng.random((n, n_arms, 1))
    full = (u < MEANS[None]).astype(float)
    rewards = np.where(np.arange(k)[None, None, :] <= idx[..., None], full, np.nan)
    p_depth = np.broadcast_to(logging, (n, n_arms, k)).copy()
    p_prefix = p_depth[..., ::-1].cumsum(axis=-1)[..., ::-1].copy()
    contexts = tuple(PolicyContext("unknown", (), 1) for _ in range(n))
    features = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    return LoggedBatch(("a", "b", "c"), MENU, contexts, features, p_depth, p_prefix, np.array(MENU)[idx], rewards)


def truth(target: np.ndarray) -> float:
    return float((target * MEANS).sum())


TARGETS = {
    "deep": np.array([[0, 0, 0, 1.0], [0, 0, 0, 1.0], [1.0, 0, 0, 0]]),
    "shallow": np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 1.0, 0]]),
    "stochastic": np.array([[0.2, 0.2, 0.3, 0.3], [0.5, 0, 0.5, 0], [0.1, 0.6, 0.2, 0.1]]),
}


@pytest.mark.parametrize("rule", ["prefix", "depth"])
@pytest.mark.parametrize("name", list(TARGETS))
def test_ips_snips_and_dr_are_unbiased_on_a_known_bandit(rule, name):
    """Mean over 40 seeded logs of 500 searches within 4 standard errors of Σ π·μ; DR with a
    deliberately wrong model (a constant) still unbiased."""
    target = TARGETS[name]
    runs = {est: [] for est in ("ips", "snips", "dr")}
    for seed in range(40):
        batch = synthetic(500, seed)
        wrong = np.full(batch.rewards.shape, 0.5)
        wrong[..., 0] = 0.0
        result = evaluate(batch, np.broadcast_to(target, batch.rewards.shape), wrong, rule)
        for est in runs:
            runs[est].append(result.estimates[est].value)
    for est, values in runs.items():
        values = np.array(values)
        se = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - truth(target)) < 4 * se + 1e-9, (est, values.mean(), truth(target), se)


def test_the_reported_standard_error_matches_the_spread_across_logs():
    target = np.broadcast_to(TARGETS["stochastic"], (400, 3, 4))
    values, ses = [], []
    for seed in range(60):
        r = evaluate(synthetic(400, 100 + seed), target, None, "depth").estimates["ips"]
        values.append(r.value)
        ses.append(r.se)
    assert np.std(values, ddof=1) == pytest.approx(np.mean(ses), rel=0.25)


def test_the_prefix_rule_sees_more_and_has_smaller_weights_than_the_depth_rule():
    batch = synthetic(3000, 7)
    target = np.broadcast_to(TARGETS["shallow"], batch.rewards.shape)
    prefix, depth = evaluate(batch, target, None, "prefix"), evaluate(batch, target, None, "depth")
    assert prefix.max_weight < depth.max_weight
    assert prefix.ess > depth.ess
    assert prefix.estimates["ips"].se < depth.estimates["ips"].se


def test_the_logging_policy_as_its_own_target_recovers_the_logged_value():
    """Depth rule, target = logger: every weight is exactly 1, so IPS = SNIPS = the log's mean value."""
    batch = synthetic(300, 3)
    result = evaluate(batch, batch.p_depth, None, "depth")
    assert result.max_weight == pytest.approx(1.0)
    assert result.estimates["ips"].value == pytest.approx(batch.logged_value().mean())
    assert result.estimates["snips"].value == pytest.approx(result.estimates["ips"].value)
    assert result.ess == pytest.approx(300)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.2, 5.0))
def test_snips_equals_ips_exactly_when_every_arms_weights_average_one(seed, scale):
    """SNIPS divides each arm's IPS by its mean weight: weights that average 1 change nothing;
    scaling every propensity by a constant (a mis-specified logger) changes IPS, not SNIPS."""
    batch = synthetic(200, seed)
    target = np.broadcast_to(TARGETS["stochastic"], batch.rewards.shape)
    w = weights(batch, target, "depth").sum(axis=2).mean(axis=0)
    base = evaluate(batch, target, None, "depth")
    normalized = base.estimates["ips"].value if np.allclose(w, 1) else None
    scaled = LoggedBatch(batch.arms, batch.menu, batch.contexts, batch.features, batch.p_depth * scale,
                         batch.p_prefix * scale, batch.logged, batch.rewards)
    other = evaluate(scaled, target, None, "depth")
    assert other.estimates["snips"].value == pytest.approx(base.estimates["snips"].value)
    assert other.estimates["ips"].value == pytest.approx(base.estimates["ips"].value / scale)
    if normalized is not None:
        assert base.estimates["snips"].value == pytest.approx(normalized)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), rule=st.sampled_from(["prefix", "depth"]))
def test_dr_with_a_model_without_residual_is_the_direct_method(seed, rule):
    batch = synthetic(150, seed)
    target = np.broadcast_to(TARGETS["stochastic"], batch.rewards.shape)
    perfect = np.where(np.isnan(batch.rewards), 0.3, batch.rewards)  # = r wherever r is observed
    result = evaluate(batch, target, perfect, rule)
    assert result.estimates["dr"].value == pytest.approx(result.estimates["dm"].value)


def test_dr_with_the_true_means_is_unbiased_and_tighter_than_ips():
    batch = synthetic(4000, 11)
    target = np.broadcast_to(TARGETS["deep"], batch.rewards.shape)
    result = evaluate(batch, target, np.broadcast_to(MEANS, batch.rewards.shape), "depth")
    dr, ips = result.estimates["dr"], result.estimates["ips"]
    assert dr.se < 0.8 * ips.se
    assert abs(dr.value - truth(TARGETS["deep"])) < 4 * dr.se


def test_clipping_caps_every_weight_and_unsupported_cells_are_reported():
    batch = synthetic(500, 5)
    target = np.broadcast_to(TARGETS["deep"], batch.rewards.shape)
    assert evaluate(batch, target, None, "depth", clip=2.0).max_weight == pytest.approx(2.0)
    never_deep = LOGGING.copy()
    never_deep[:, 3], never_deep[:, 0] = 0.0, LOGGING[:, 0] + LOGGING[:, 3]
    result = evaluate(synthetic(500, 5, never_deep), target, None, "depth")
    assert result.unsupported == pytest.approx(1.0)  # all its mass is at depth 50, never logged
    assert result.estimates["ips"].value == 0.0


def test_the_cross_fitted_direct_model_learns_the_means():
    batch = synthetic(6000, 2)
    q = fit_direct(batch, folds=2, seed=0)
    assert np.abs(q.mean(axis=0) - MEANS).max() < 0.04
    assert (q[..., 0] == 0).all()


def test_bad_input_is_a_clear_error():
    batch = synthetic(10, 0)
    with pytest.raises(ValueError, match="rule"):
        evaluate(batch, batch.p_depth, None, "exact")
    with pytest.raises(ValueError, match="shape"):
        evaluate(batch, batch.p_depth[:, :2], None)
    with pytest.raises(ValueError, match="not on the menu"):
        depth_distribution(Decision({"lexical": 40}, {"lexical": 1.0}, "static"), "lexical", MENU)


# -- from served searches -----------------------------------------------------------------

@dataclass
class Served:
    """What the estimators read of a record (`ServedSearch`: an `Impression` has these too)."""

    context: PolicyContext
    decision: Decision
    results: tuple[ArmResult, ...]
    ids: tuple[str, ...] = ()

    def arm_result(self, arm):
        return next((r for r in self.results if r.arm == arm), None)


def test_a_batch_from_records_knows_rewards_only_up_to_the_logged_depth():
    ids = tuple(f"e{i}" for i in range(25))
    decision = Decision({"lexical": 25, "semantic": 0}, {"lexical": 0.5, "semantic": 0.6}, "thompson",
                        {"lexical": {0: 0.2, 10: 0.3, 25: 0.5}, "semantic": {0: 0.6, 50: 0.4}})
    served = Served(PolicyContext("artist", ("artist",), 2), decision, (ArmResult("lexical", 25, ids),), ("e15",))
    floors = {"lexical": 10, "semantic": 10}
    batch = logged_batch([served], [{"e15": 1.0, "e3": -1.0}], ["lexical", "semantic"], (10, 25, 50), floors)
    assert batch.menu == (0, 10, 25, 50)
    assert batch.logged.tolist() == [[25, 0]]
    np.testing.assert_array_equal(batch.rewards[0, 0], [0.0, 0.0, 1.0, np.nan])  # the skip rewards nothing
    np.testing.assert_array_equal(batch.rewards[0, 1], [0.0, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(batch.p_depth[0, 0], [0.2, 0.3, 0.5, 0.0])
    np.testing.assert_allclose(batch.p_prefix[0, 0], [1.0, 0.8, 0.5, 0.0])
    np.testing.assert_allclose(batch.p_prefix[0, 1], [1.0, 0.4, 0.4, 0.4])
    # e15 at page position 1, found at lexical's rank 16: beyond its floor, a gain of 1 / log2(2) from depth 25
    assert batch.logged_value().tolist() == [1.0] == [on_record_value(served, {"e15": 1.0}, floors)]
