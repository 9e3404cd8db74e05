"""What the learning policies share: every arm at its floor, per-(arm, depth) posteriors of
the page gain a deeper list buys, the semi-bandit update from a served search, burn-in,
rules that force a depth, and the cost-aware budgeted allocation. Subclasses only say how a
value is drawn from the posterior (Thompson: a sample; UCB: an optimistic bound;
ε-greedy: the mean or a random allocation) and what the propensity of the result is.

Why floors: a ranker that fuses or learns from every arm uses each arm's list as a vote, and
dropping an arm to save candidates cost more page quality than it saved (a static "every arm
at depth 10" kept ~98–101 % of every arm at its default depth, at half the candidates).
So no arm is ever left out; a policy buys *depth*, where the page needs it (a broad
"chill songs" wants the structured arm's 50th hit, a known item needs none), and pays per
unique candidate the depth adds (`rewards.py` says what a depth earns).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..arms import ARMS, check_arm_names
from .allocation import allocate_depths
from .base import Decision, Policy, PolicyContext, ServedSearch, check_number
from .features import DIM, FEATURES, featurize
from .linear import BayesLinearBank
from .rewards import depth_rewards, new_candidates
from .static import default_allocation

#: Depths an arm may draw; its floor (`Arm.floor`, or `floors`) is the shallowest it runs.
DEFAULT_DEPTHS = (10, 25, 50, 100)
#: What the learned state's rewards mean (a state learned with another reward is refused).
REWARD = "page_gain_beyond_floors"
#: Before any evidence, the share of a depth's extra hits taken to be new to the union.
PRIOR_NEW_SHARE = 0.8


@dataclass(eq=False)
class ContextualPolicy(Policy):
    """Base of the learning policies. Its hyper-parameters are the dataclass fields (shared by
    every subclass, which adds its own), checked when the policy is made; what it learns lives
    in attributes ending in `_` and in the posteriors.

    * `depths`: the depth menu; `floors`: arm → the shallowest depth it runs (default: each
      arm's `floor`); `cost`: utility charged per unique candidate a deeper list adds, so the
      policy trades page gain for retrieval and ranking cost explicitly; `budget`: the most
      candidates the policy adds beyond the floors per query (expected, in unique candidates);
    * `burn_in`: searches served by the static allocation (propensity 1, `forced`
      "burn-in") before the policy decides: the deep lists teach every depth at once;
    * `force`: arm → minimum depth, a rule applied to every query (propensity 1);
    * `prior_value`, `prior_precision`, `noise`, `discount`: the posteriors of the page gain
      beyond the floors (see `linear.py`).
    """

    seed: int | None = None
    depths: Sequence[int] = DEFAULT_DEPTHS
    floors: Mapping[str, int] | None = None
    cost: float = 0.004
    budget: int = 60
    burn_in: int = 300
    force: Mapping[str, int] | None = None
    prior_value: float = 0.05
    prior_precision: float = 1.0
    noise: float = 0.3
    discount: float = 1.0

    def __post_init__(self) -> None:
        Policy.__init__(self, self.seed)
        check_number("cost", self.cost, minimum=0.0)
        check_number("budget", self.budget, minimum=0, integer=True)
        check_number("burn_in", self.burn_in, minimum=0, integer=True)
        check_number("prior_value", self.prior_value, minimum=0.0)
        check_number("prior_precision", self.prior_precision, minimum=0.0, exclusive=True)
        check_number("noise", self.noise, minimum=0.0, exclusive=True)
        check_number("discount", self.discount, minimum=0.0, maximum=1.0, exclusive=True)
        self.arms = tuple(ARMS)
        floors = {arm: ARMS[arm].floor for arm in self.arms}
        check_arm_names(self.floors or {}, "floors")
        for arm, depth in dict(self.floors or {}).items():
            check_number(f"the floor of {arm}", depth, minimum=1, integer=True)
            floors[arm] = depth
        self.floors = floors
        depths = tuple(sorted({int(d) for d in self.depths} | set(floors.values())))
        if not depths or depths[0] <= 0:
            raise ValueError(f"depth menu must hold positive depths, got {depths}")
        self.depths = depths
        self.force = dict(self.force or {})
        check_arm_names(self.force, "force")
        prior = np.zeros((len(self.arms) * len(depths), DIM))
        prior[:, FEATURES.index("bias")] = self.prior_value
        self.models = BayesLinearBank(len(prior), DIM, prior, self.prior_precision, self.noise, self.discount)
        floor_depth = np.array([[floors[a]] for a in self.arms])
        #: Unique candidates each depth added, summed over the searches that ran it, and their count.
        self.added_ = np.maximum(np.array(depths)[None, :] - floor_depth, 0) * PRIOR_NEW_SHARE
        self.added_n_ = np.ones((len(self.arms), len(depths)))
        self.n_updates_ = 0
        #: Whether the learned choice serves past burn-in: the guard's verdict where searches are
        #: served (`guard.py`, set by the feedback loop); the static allocation serves while False.
        self.trusted_ = True

    # -- deciding -------------------------------------------------------------------------

    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision:
        check_arm_names(available, "available arms")
        with self._lock:
            if self.n_updates_ < self.burn_in:
                return self._static_decision(available, f"burn-in: static allocation for the first {self.burn_in} "
                                             f"searches ({self.n_updates_} so far)")
            if not self.trusted_:
                return self._static_decision(available, "guard: the learned policy is not shown no worse than the "
                                             "static allocation yet")
            forced = {a: d for a, d in self.force.items() if a in available}
            free = [a for a in available if a not in forced]
            mean, std = self._posterior(featurize(context), free)
            rows = [self.arms.index(a) for a in free]
            unique = self.added_[rows] / self.added_n_[rows]
            floor_index = np.array([self.depths.index(self.floors[a]) for a in free], dtype=int)
            at_or_below = np.arange(len(self.depths))[None, :] <= floor_index[:, None]
            unique = np.where(at_or_below, 0.0, unique)
            choice, depth_probs, shown = self._decide(np.where(at_or_below, 0.0, mean), std, unique, floor_index)
            unbudgeted = allocate_depths(np.where(at_or_below, 0.0, shown)[None], unique, floor_index, self.cost,
                                         float("inf"))[0]
        allocations = {a: forced.get(a, 0) for a in available}
        propensities = {a: 1.0 for a in forced}
        depths: dict[str, dict[int, float]] = {}
        for i, arm in enumerate(free):
            allocations[arm] = self.depths[choice[i]]
            depths[arm] = depth_probs[i]
            propensities[arm] = depths[arm][allocations[arm]]
        explain = {arm: self._explain(arm, mean[i], std[i], shown[i], unique[i], choice[i], unbudgeted[i])
                   for i, arm in enumerate(free)}
        return Decision(allocations, propensities, self.name, depths, {a: "rule: force" for a in forced}, explain)

    def _posterior(self, x: np.ndarray, arms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of each (arm, depth) prediction, shape (len(arms), len(depths))."""
        mean, std = self.models.predict(x)
        rows = [self.arms.index(a) for a in arms]
        shape = (len(self.arms), len(self.depths))
        return mean.reshape(shape)[rows], std.reshape(shape)[rows]

    @abstractmethod
    def _decide(self, mean: np.ndarray, std: np.ndarray, unique: np.ndarray,
                floors: np.ndarray) -> tuple[np.ndarray, list[dict[int, float]], np.ndarray]:
        """The depth index per arm (≥ its floor's); per arm, P(depth) over the menu; and the
        values (arms × depths) the served choice was made from (shown by `debug`)."""

    def _allocate(self, values: np.ndarray, unique: np.ndarray, floors: np.ndarray) -> np.ndarray:
        at_or_below = np.arange(values.shape[-1])[None, None, :] <= floors[None, :, None]
        return allocate_depths(np.where(at_or_below, 0.0, values), unique, floors, self.cost, self.budget)

    def _shares(self, choices: np.ndarray) -> list[dict[int, float]]:
        """Per arm, the share of `choices` rows (draws) at each depth of the menu."""
        return [{d: float(np.mean(choices[:, i] == j)) for j, d in enumerate(self.depths)}
                for i in range(choices.shape[1])]

    def _static_decision(self, available: Sequence[str], reason: str) -> Decision:
        """Every arm at its default depth (at least its floor): burn-in, or the guard's verdict;
        the `force` rules hold here too (they are the operator's, not the policy's)."""
        static = default_allocation()
        allocations = {a: self.force.get(a, max(static.get(a, 0), self.floors[a])) for a in available}
        forced = {a: "rule: force" if a in self.force else reason for a in available}
        return Decision(allocations, {a: 1.0 for a in available}, self.name, forced=forced)

    def _explain(self, arm: str, mean: np.ndarray, std: np.ndarray, value: np.ndarray, unique: np.ndarray,
                 chosen: int, unbudgeted: int) -> dict[str, Any]:
        """Why an arm got its depth: the posterior, the value it was chosen on, the reason."""
        depth, floor = self.depths[chosen], self.floors[arm]
        if chosen < unbudgeted:
            reason = (f"depth {depth}: {self.depths[unbudgeted]} would pay, but the budget of {self.budget} "
                      "added candidates is spent")
        elif depth == floor:
            reason = f"its floor ({floor}): no deeper list's gain beats its cost ({self.cost} per added candidate)"
        else:
            reason = f"depth {depth}: the gain beyond the floors beats the cost of the candidates it adds"
        return {
            "depth": depth, "floor": floor,
            "posterior_mean": {d: round(float(m), 4) for d, m in zip(self.depths, mean) if d > floor},
            "posterior_std": {d: round(float(s), 4) for d, s in zip(self.depths, std) if d > floor},
            "value": {d: round(float(v), 4) for d, v in zip(self.depths, value) if d > floor},
            "added_candidates": {d: round(float(u), 1) for d, u in zip(self.depths, unique) if d > floor},
            "reason": reason,
        }

    # -- learning -------------------------------------------------------------------------

    def _learn(self, record: ServedSearch, engagement: Mapping[str, float]) -> None:
        """One served search: the page gain of every depth beyond each arm's floor that the
        record answers (an unengaged search teaches 0 everywhere), and what each depth added."""
        rewards = depth_rewards(record, engagement, self.depths, self.floors)
        models, values = [], []
        for arm, by_depth in rewards.items():
            if arm not in self.arms:
                continue
            a = self.arms.index(arm)
            for depth, reward in by_depth.items():
                if depth > self.floors[arm]:
                    models.append(a * len(self.depths) + self.depths.index(depth))
                    values.append(reward)
        self._learn_costs(record)
        if models:
            self.models.learn(featurize(record.context), np.array(models, dtype=int), np.array(values))
        self.n_updates_ += 1

    def _learn_costs(self, record: ServedSearch) -> None:
        """The unique candidates each depth beyond an arm's floor added in `record`: the cost
        side of every choice, measured whatever the policy learns about value."""
        for a, arm in enumerate(self.arms):
            for depth, added in new_candidates(record, arm, self.depths, self.floors).items():
                if depth > self.floors[arm]:
                    j = self.depths.index(depth)
                    self.added_[a, j] += added
                    self.added_n_[a, j] += 1

    def _learned_state(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "arms": list(self.arms), "depths": list(self.depths),
                "floors": dict(self.floors), "reward": REWARD, "n_updates": self.n_updates_,
                "models": self.models.state(), "added": self.added_.tolist(), "added_n": self.added_n_.tolist()}

    def _load_learned(self, learned: Mapping[str, Any]) -> None:
        if not learned:
            return
        for key, mine in (("features", list(FEATURES)), ("arms", list(self.arms)), ("depths", list(self.depths)),
                          ("floors", dict(self.floors)), ("reward", REWARD)):
            theirs = learned.get(key)
            if (list(theirs) if isinstance(mine, list) and theirs is not None else theirs) != mine:
                raise ValueError(f"policy state was learned with other {key} ({theirs}); this policy has {mine}: "
                                 "replay the log into a fresh one (`es-ltrr replay --save`) or delete the state "
                                 "file to start afresh")
        self.models.load_state(learned["models"])
        self.added_ = np.array(learned["added"], dtype=float)
        self.added_n_ = np.array(learned["added_n"], dtype=float)
        self.n_updates_ = int(learned["n_updates"])
