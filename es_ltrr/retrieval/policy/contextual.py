"""What the learning policies share: per-(arm, depth) posteriors over context features, the
semi-bandit update from a served search, burn-in, rules that force an arm, and the
cost-aware budgeted allocation. Subclasses only say how a value is drawn from the posterior
(Thompson: a sample; UCB: an optimistic bound; ε-greedy: the mean or a random allocation)
and what the propensity of the result is.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..arms import ARMS, check_arm_names
from .allocation import allocate, allocate_union
from .base import Decision, Policy, PolicyContext, ServedSearch, check_number
from .features import DIM, FEATURES, featurize
from .linear import BayesLinearBank
from .rewards import depth_rewards
from .static import default_allocation

#: Depths an arm may draw (0 = not run is always on the menu).
DEFAULT_DEPTHS = (10, 25, 50, 100)


@dataclass(eq=False)
class ContextualPolicy(Policy):
    """Base of the learning policies. Its hyper-parameters are the dataclass fields (shared by
    every subclass, which adds its own), checked when the policy is made; what it learns lives
    in attributes ending in `_` and in the posteriors.

    * `depths`: the depth menu; `cost`: utility charged per candidate requested, so the
      policy trades recall for retrieval cost explicitly; `budget`: candidates per query,
      never exceeded; `objective`: "union" (default: P(some chosen arm finds it) − cost,
      so redundant arms are worth only what they add) or "sum" (Σ per-arm P − cost, the
      plain semi-bandit objective; `allocation.py`);
    * `burn_in`: searches served by the static allocation (propensity 1, `forced`
      "burn-in") before the policy decides: the all-arms lists teach every depth at once;
    * `force`: arm → minimum depth, a rule applied to every query (propensity 1);
    * `prior_hit`, `prior_precision`, `noise`, `discount`: the posteriors (see `linear.py`).
    """

    seed: int | None = None
    depths: Sequence[int] = DEFAULT_DEPTHS
    cost: float = 0.004
    budget: int = 100
    burn_in: int = 300
    force: Mapping[str, int] | None = None
    prior_hit: float = 0.5
    prior_precision: float = 1.0
    noise: float = 0.3
    discount: float = 1.0
    objective: str = "union"

    def __post_init__(self) -> None:
        Policy.__init__(self, self.seed)
        if self.objective not in ("union", "sum"):
            raise ValueError(f"objective must be 'union' or 'sum', got {self.objective!r}")
        check_number("cost", self.cost, minimum=0.0)
        check_number("budget", self.budget, minimum=0, integer=True)
        check_number("burn_in", self.burn_in, minimum=0, integer=True)
        check_number("prior_hit", self.prior_hit, minimum=0.0, maximum=1.0)
        check_number("prior_precision", self.prior_precision, minimum=0.0, exclusive=True)
        check_number("noise", self.noise, minimum=0.0, exclusive=True)
        check_number("discount", self.discount, minimum=0.0, maximum=1.0, exclusive=True)
        depths = tuple(sorted(int(d) for d in self.depths))
        if not depths or depths[0] <= 0:
            raise ValueError(f"depth menu must hold positive depths, got {depths}")
        self.depths = depths
        self.force = dict(self.force or {})
        check_arm_names(self.force, "force")
        if sum(self.force.values()) > self.budget:
            raise ValueError(f"forced depths ({sum(self.force.values())}) exceed the budget ({self.budget})")
        self.arms = tuple(ARMS)
        prior = np.zeros((len(self.arms) * len(depths), DIM))
        prior[:, FEATURES.index("bias")] = self.prior_hit
        self.models = BayesLinearBank(len(prior), DIM, prior, self.prior_precision, self.noise, self.discount)
        self.n_updates_ = 0

    # -- deciding -------------------------------------------------------------------------

    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision:
        check_arm_names(available, "available arms")
        with self._lock:
            if self.n_updates_ < self.burn_in:
                return self._burn_in_decision(available)
            x = featurize(context)
            free = [a for a in available if a not in self.force]
            mean, std = self._posterior(x, free)
            forced = {a: d for a, d in self.force.items() if a in available}
            depth_arr = np.array(self.depths)
            budget = self.budget - sum(forced.values())
            choice, depth_probs, shown = self._decide(mean, std, depth_arr, budget)
            unbudgeted = self._allocate(shown[None], depth_arr, 1 << 30)[0]
        allocations = {a: forced.get(a, 0) for a in available}
        propensities = {a: 1.0 for a in forced}
        depths: dict[str, dict[int, float]] = {}
        for i, arm in enumerate(free):
            allocations[arm] = 0 if choice[i] < 0 else self.depths[choice[i]]
            depths[arm] = depth_probs[i]
            propensities[arm] = depths[arm][allocations[arm]]
        explain = {arm: self._explain(mean[i], std[i], shown[i], choice[i], unbudgeted[i], budget)
                   for i, arm in enumerate(free)}
        return Decision(allocations, propensities, self.name, depths,
                        {a: "rule: force" for a in forced}, explain)

    def _posterior(self, x: np.ndarray, arms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of each (arm, depth) prediction, shape (len(arms), len(depths))."""
        mean, std = self.models.predict(x)
        rows = [self.arms.index(a) for a in arms]
        shape = (len(self.arms), len(self.depths))
        return mean.reshape(shape)[rows], std.reshape(shape)[rows]

    @abstractmethod
    def _decide(self, mean: np.ndarray, std: np.ndarray, depths: np.ndarray,
                budget: int) -> tuple[np.ndarray, list[dict[int, float]], np.ndarray]:
        """The depth index per arm (−1 = not run); per arm, P(depth) over 0 + the menu; and
        the values (arms × depths) the served choice was made from (shown by `debug`)."""

    def _allocate(self, values: np.ndarray, depths: np.ndarray, budget: int) -> np.ndarray:
        run = allocate_union if self.objective == "union" else allocate
        return run(values, depths, self.cost, budget)

    def _shares(self, choices: np.ndarray) -> list[dict[int, float]]:
        """Per arm, the share of `choices` rows (draws) at each depth."""
        sizes = (0, *self.depths)
        return [{sizes[j + 1]: float(np.mean(choices[:, i] == j)) for j in range(-1, len(self.depths))}
                for i in range(choices.shape[1])]

    def _burn_in_decision(self, available: Sequence[str]) -> Decision:
        static = default_allocation()
        allocations = {a: static.get(a, 0) for a in available}
        reason = f"burn-in: static allocation for the first {self.burn_in} searches ({self.n_updates_} so far)"
        return Decision(allocations, {a: 1.0 for a in available}, self.name,
                        forced={a: reason for a in available})

    def _explain(self, mean: np.ndarray, std: np.ndarray, value: np.ndarray, chosen: int, unbudgeted: int,
                 budget: int) -> dict[str, Any]:
        """Why an arm got its depth: the posterior, the value it was chosen on, the reason."""
        if unbudgeted < 0:
            reason = f"not run: no depth's value exceeds its cost ({self.cost} per candidate)"
        elif chosen < unbudgeted:
            reason = f"stepped down from depth {self.depths[unbudgeted]} to fit the budget of {budget} candidates"
        else:
            reason = f"depth {self.depths[chosen]}: what it adds beats its cost"
        return {
            "depth": 0 if chosen < 0 else self.depths[chosen],
            "posterior_mean": {d: round(float(m), 4) for d, m in zip(self.depths, mean)},
            "posterior_std": {d: round(float(s), 4) for d, s in zip(self.depths, std)},
            "value": {d: round(float(v), 4) for d, v in zip(self.depths, value)},
            "reason": reason,
        }

    # -- learning -------------------------------------------------------------------------

    def _learn(self, record: ServedSearch, engagement: Mapping[str, float]) -> None:
        rewards = depth_rewards(record, engagement, self.depths)
        models, values = [], []
        for arm, by_depth in rewards.items():
            if arm not in self.arms:
                continue
            for depth, reward in by_depth.items():
                models.append(self.arms.index(arm) * len(self.depths) + self.depths.index(depth))
                values.append(reward)
        self.models.learn(featurize(record.context), np.array(models, dtype=int), np.array(values))
        self.n_updates_ += 1

    def _learned_state(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "arms": list(self.arms), "depths": list(self.depths),
                "n_updates": self.n_updates_, "models": self.models.state()}

    def _load_learned(self, learned: Mapping[str, Any]) -> None:
        if not learned:
            return
        for key, mine in (("features", FEATURES), ("arms", self.arms), ("depths", self.depths)):
            if list(learned.get(key, [])) != list(mine):
                raise ValueError(f"policy state was learned with other {key} ({learned.get(key)}); "
                                 f"this policy has {list(mine)}: delete the state file to start afresh")
        self.models.load_state(learned["models"])
        self.n_updates_ = int(learned["n_updates"])
