"""Off-policy evaluation: what another policy would have earned on the searches we logged.

The value estimated is the bandit's own reward, per arm and depth (semi-bandit,
`rewards.py`): V(π) = E_x Σ_arm Σ_d π(d | x, arm) · r(x, arm, d), where r is the page gain
of the engaged entities the arm's top d found beyond every arm's floor (0 at a floor, and at
d = 0, not run). Joint allocations are
not logged — 6 arms × 5 depths make 15,625 joint actions, so exact-match IPS over them
would match almost nothing — but each decision logs every arm's marginal depth
distribution (`Decision.depths`), and the additive reward needs nothing more.

Which cells (arm, d) a logged search observes is the `rule`:

* ``"depth"``: the logged depth is d. Weight π(d)/p_log(d): per-arm IPS as in the textbook.
* ``"prefix"``: the logged depth is ≥ d — an arm's top d of a deeper list *is* its depth-d
  list, so a search run at 50 answers for 10, 25 and 50. Weight π(d)/P_log(depth ≥ d).
  Still unbiased (whether the logger went ≥ d depends on its draw alone, not on the
  reward), and it sees strictly more cells, so the weights are smaller. (Deeper cells the
  record happens to answer because a hit sits higher are *not* used: they are known only
  when the reward is 1, which would bias the estimate upwards.)

Estimators (each with a standard error from its per-query terms, so a bias shows up as
an error of several SEs): DM, the direct method (a model q̂ of r, here a ridge regression
per (arm, depth) on the policy's context features, cross-fitted on halves of the log);
IPS; SNIPS (IPS divided, per arm, by the mean importance weight, whose expectation is 1);
DR (DM plus IPS of the model's residual: unbiased when either the propensities or q̂ are
right). `clip` caps every weight (biased, lower variance); `max_weight` and the effective
sample size (ESS, worst arm) say how much the log really supports a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..arms import ARMS
from .base import Decision, PolicyContext, ServedSearch
from .features import featurize
from .rewards import arm_depth_rewards, depth_rewards, floor_ids, page_gains

RULES = ("depth", "prefix")
ESTIMATORS = ("dm", "ips", "snips", "dr")


@dataclass(frozen=True)
class LoggedBatch:
    """Logged searches as arrays over (search, arm, menu depth); `menu[0]` is 0 (not run).

    `p_depth[i, a, k]` = P_log(arm a at depth menu[k] | x_i); `p_prefix[i, a, k]` =
    P_log(depth ≥ menu[k]); `logged[i, a]` the depth served; `rewards[i, a, k]` the reward
    the record answers (NaN when it does not)."""

    arms: tuple[str, ...]
    menu: tuple[int, ...]
    contexts: tuple[PolicyContext, ...]
    features: np.ndarray
    p_depth: np.ndarray
    p_prefix: np.ndarray
    logged: np.ndarray
    rewards: np.ndarray

    def __len__(self) -> int:
        return len(self.contexts)

    def logged_value(self) -> np.ndarray:
        """Per search, the reward the logging policy itself earned (Σ arms, at its depths on the menu)."""
        at = (self.logged[..., None] == np.array(self.menu)[None, None, :])
        return np.where(at, np.nan_to_num(self.rewards), 0.0).sum(axis=(1, 2))


def depth_distribution(decision: Decision, arm: str, menu: Sequence[int]) -> np.ndarray:
    """P(depth) of `arm` over `menu` (0 first): the decision's distribution when it has one,
    else a point mass at the depth it chose (static, forced and burn-in decisions).

    >>> d = Decision({"lexical": 25}, {"lexical": 0.7}, "x", {"lexical": {0: 0.1, 25: 0.7, 50: 0.2}})
    >>> depth_distribution(d, "lexical", (0, 10, 25, 50)).tolist()
    [0.1, 0.0, 0.7, 0.2]
    >>> depth_distribution(d, "semantic", (0, 10, 25, 50)).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    dist = _distribution(decision, arm)
    off = sorted(d for d, p in dist.items() if p > 0 and d not in menu)
    if off:
        raise ValueError(f"{arm} depths {off} are not on the menu {list(menu)}")
    return np.array([float(dist.get(d, 0.0)) for d in menu])


def _distribution(decision: Decision, arm: str) -> dict[int, float]:
    dist = decision.depths.get(arm) if arm not in decision.forced else None
    return {int(d): float(p) for d, p in dist.items()} if dist else {int(decision.allocations.get(arm, 0)): 1.0}


def logged_batch(records: Sequence[ServedSearch], engagements: Sequence[Mapping[str, float]], arms: Sequence[str],
                 depths: Sequence[int], floors: Mapping[str, int] | None = None) -> LoggedBatch:
    """A batch from served searches (live records or logged impressions: `ServedSearch`) and
    what users engaged with on each."""
    menu = (0, *sorted(int(d) for d in depths))
    floors = {arm: a.floor for arm, a in ARMS.items()} if floors is None else floors
    n, n_arms, k = len(records), len(arms), len(menu)
    p_depth, p_prefix = np.zeros((n, n_arms, k)), np.zeros((n, n_arms, k))
    logged, rewards = np.zeros((n, n_arms), dtype=int), np.full((n, n_arms, k), np.nan)
    for i, (record, engagement) in enumerate(zip(records, engagements)):
        decision = record.decision
        by_arm = depth_rewards(record, engagement, menu[1:], floors)
        for a, arm in enumerate(arms):
            served = int(decision.allocations.get(arm, 0))
            logged[i, a] = served
            # a served depth off the menu still answers every menu depth below it
            dist = _distribution(decision, arm)
            p_depth[i, a] = [dist.get(d, 0.0) for d in menu]
            p_prefix[i, a] = [sum(p for depth, p in dist.items() if depth >= d) for d in menu]
            rewards[i, a, 0] = 0.0
            for j, d in enumerate(menu[1:], start=1):
                if d <= served:
                    rewards[i, a, j] = by_arm.get(arm, {}).get(d, np.nan)
    features = np.array([featurize(r.context) for r in records]).reshape(n, -1)
    return LoggedBatch(tuple(arms), menu, tuple(r.context for r in records), features, p_depth, p_prefix,
                       logged, rewards)


def target_distributions(decisions: Sequence[Decision], batch: LoggedBatch) -> np.ndarray:
    """π(depth | x) per search and arm, shape (n, arms, menu), from the target's decisions."""
    return np.array([[depth_distribution(d, arm, batch.menu) for arm in batch.arms] for d in decisions])


# -- the direct method's model --------------------------------------------------------------

def fit_direct(batch: LoggedBatch, folds: int = 2, seed: int = 0, ridge: float = 1.0) -> np.ndarray:
    """q̂(x, arm, d) for every logged search, shape (n, arms, menu), cross-fitted: each fold
    is predicted by ridge regressions (one per arm and depth, on the context features)
    fitted on the other folds, so DR's residuals are not the model's own training error.
    Cells are fitted on the searches that observed them (logged depth ≥ d)."""
    n = len(batch)
    fold = np.random.default_rng(seed).integers(0, max(folds, 1), n) if folds > 1 else np.zeros(n, dtype=int)
    q = np.zeros(batch.rewards.shape)
    for f in range(max(folds, 1)):
        train = (fold != f) if folds > 1 else np.ones(n, dtype=bool)
        q[fold == f] = _ridge_predict(batch, train, batch.features[fold == f], ridge)
    return q


def _ridge_predict(batch: LoggedBatch, train: np.ndarray, x: np.ndarray, ridge: float) -> np.ndarray:
    out = np.zeros((len(x), len(batch.arms), len(batch.menu)))
    X = batch.features[train]
    r = batch.rewards[train]
    dim = X.shape[1]
    for a in range(len(batch.arms)):
        for k in range(1, len(batch.menu)):
            seen = ~np.isnan(r[:, a, k])
            if not seen.any():
                continue
            Xs, ys = X[seen], r[seen, a, k]
            mean = ys.mean()  # shrink towards the cell's mean, not towards 0
            theta = np.linalg.solve(Xs.T @ Xs + ridge * np.eye(dim), Xs.T @ (ys - mean))
            out[:, a, k] = np.maximum(mean + x @ theta, 0.0)
    return out


# -- the estimators -------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its standard error."""

    value: float
    se: float

    def to_json(self) -> dict[str, float]:
        return {"value": round(self.value, 5), "se": round(self.se, 5)}


@dataclass(frozen=True)
class OpeResult:
    """Every estimator for one target, and how well the log supports it: `ess` is the
    effective sample size (Σw)²/Σw² of each arm's per-search weight, the worst arm's."""

    estimates: dict[str, Estimate]
    ess: float
    max_weight: float
    #: Share of the target's (arm, depth) mass on cells the logger never observes (there IPS
    #: cannot see the reward and is biased towards 0; DM and DR fall back on the model).
    unsupported: float
    n: int
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {"estimates": {k: e.to_json() for k, e in self.estimates.items()}, "ess": round(self.ess, 1),
                "max_weight": round(self.max_weight, 2), "unsupported": round(self.unsupported, 4), "n": self.n,
                "rule": self.rule}


def weights(batch: LoggedBatch, target: np.ndarray, rule: str = "prefix", clip: float | None = None) -> np.ndarray:
    """w[i, a, k] = π(k) · [cell observed] / P_log(cell observed), capped at `clip`."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    depth = np.array(batch.menu)[None, None, :]
    if rule == "depth":
        observed, p = batch.logged[..., None] == depth, batch.p_depth
    else:
        observed, p = batch.logged[..., None] >= depth, batch.p_prefix
    ratio = np.where(observed & (p > 0), 1.0 / np.where(p > 0, p, 1.0), 0.0)
    w = target * ratio
    return np.minimum(w, clip) if clip is not None else w


def evaluate(batch: LoggedBatch, target: np.ndarray, q_hat: np.ndarray | None = None, rule: str = "prefix",
             clip: float | None = None) -> OpeResult:
    """DM, IPS, SNIPS and DR of the target whose depth distributions are `target` (n, arms, menu)."""
    if target.shape != batch.rewards.shape:
        raise ValueError(f"target distributions have shape {target.shape}, the batch {batch.rewards.shape}")
    n = len(batch)
    if n == 0:
        raise ValueError("no logged searches to evaluate on")
    w = weights(batch, target, rule, clip)
    r = np.nan_to_num(batch.rewards)  # an observed cell with no answer (a failed arm) counts 0
    q = np.zeros_like(r) if q_hat is None else q_hat
    dm = (target * q).sum(axis=(1, 2))
    ips = (w * r).sum(axis=(1, 2))
    dr = dm + (w * (r - q)).sum(axis=(1, 2))
    per_arm_w = w.sum(axis=2)  # (n, arms): E = Σ_k π(k) = 1 (where supported)
    mean_w = per_arm_w.mean(axis=0)
    arm_ips = (w * r).sum(axis=2)  # (n, arms)
    safe = np.where(mean_w > 0, mean_w, 1.0)
    snips_arm = arm_ips.mean(axis=0) / safe
    # delta method: the per-search influence of the ratio estimator, for its SE
    snips_terms = ((arm_ips - snips_arm[None, :] * per_arm_w) / safe[None, :]).sum(axis=1) + snips_arm.sum()
    estimates = {"ips": _estimate(ips), "snips": Estimate(float(snips_arm.sum()), _se(snips_terms))}
    if q_hat is not None:
        estimates = {"dm": _estimate(dm), **estimates, "dr": _estimate(dr)}
    ess = min((float(col.sum() ** 2 / (col ** 2).sum()) if (col ** 2).sum() > 0 else 0.0) for col in per_arm_w.T)
    support = batch.p_depth if rule == "depth" else batch.p_prefix
    unsupported = float((target * (support <= 0))[..., 1:].sum() / max(target[..., 1:].sum(), 1e-12))
    return OpeResult(estimates, ess, float(w.max()), unsupported, n, rule)


def _estimate(terms: np.ndarray) -> Estimate:
    return Estimate(float(terms.mean()), _se(terms))


def _se(terms: np.ndarray) -> float:
    return float(terms.std(ddof=1) / np.sqrt(len(terms))) if len(terms) > 1 else float("nan")


def estimate_all(batch: LoggedBatch, targets: Mapping[str, np.ndarray], rule: str = "prefix",
                 clip: float | None = None, folds: int = 2, seed: int = 0) -> dict[str, OpeResult]:
    """Every target on one batch, with one cross-fitted direct model shared by all."""
    q_hat = fit_direct(batch, folds, seed)
    return {name: evaluate(batch, t, q_hat, rule, clip) for name, t in targets.items()}


def on_record_value(record: ServedSearch, engagement: Mapping[str, float],
                    floors: Mapping[str, int] | None = None) -> float:
    """What one served search earned under the same reward: Σ over its arms of r at the
    depth it ran (the on-policy value the estimators are compared with)."""
    floors = {arm: a.floor for arm, a in ARMS.items()} if floors is None else floors
    gains, free = page_gains(record.ids, engagement), floor_ids(record, floors)
    return float(sum(arm_depth_rewards(record.arm_result(arm), d, gains, free, [d]).get(d, 0.0)
                     for arm, d in record.decision.allocations.items() if d > 0))


__all__ = ["ESTIMATORS", "RULES", "Estimate", "LoggedBatch", "OpeResult", "depth_distribution", "estimate_all",
           "evaluate", "fit_direct", "logged_batch", "on_record_value", "target_distributions", "weights"]
