"""Random arms and depths at a given mean candidate count: the no-learning control.

Each arm runs independently with probability `p_on` at a depth drawn uniformly from the
menu, with `p_on` set (`p_on_for`) so the mean candidates per query equal `mean_candidates` (the
simulator passes Thompson's average, so the two are compared at the same budget); when a
draw exceeds the hard `budget`, its deepest arms are dropped until it fits. The trimming
couples the arms, so propensities are estimated like Thompson's: the share of `draws`
random allocations (the served one among them) that give each arm its depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .base import check_number
from .contextual import ContextualPolicy


def random_choices(rng: np.random.Generator, draws: int, n_arms: int, depths: np.ndarray,
                   mean_candidates: float, budget: int) -> np.ndarray:
    """Depth index per draw and arm (−1 = not run), uniformly random within the budget."""
    return _trimmed(rng, draws, n_arms, depths, p_on_for(n_arms, tuple(depths), mean_candidates, budget), budget)


@lru_cache(maxsize=64)
def p_on_for(n_arms: int, depths: tuple[int, ...], mean_candidates: float, budget: int) -> float:
    """The `p_on` whose allocations, after trimming to the budget, request `mean_candidates`
    on average (bisection on a fixed-seed sample; the trimming makes it non-linear)."""
    if n_arms == 0 or mean_candidates <= 0:
        return 0.0
    sample = np.random.default_rng(0)
    low, high = 0.0, 1.0
    sizes = np.concatenate([[0], depths])
    for _ in range(20):
        mid = (low + high) / 2
        mean = sizes[_trimmed(np.random.default_rng(sample.integers(1 << 31)), 4096, n_arms, np.array(depths), mid, budget) + 1].sum(axis=1).mean()
        low, high = (mid, high) if mean < mean_candidates else (low, mid)
    return (low + high) / 2


def _trimmed(rng: np.random.Generator, draws: int, n_arms: int, depths: np.ndarray, p_on: float,
             budget: int) -> np.ndarray:
    on = rng.random((draws, n_arms)) < p_on
    choice = np.where(on, rng.integers(0, len(depths), (draws, n_arms)), -1)
    sizes = np.concatenate([[0], depths])
    for _ in range(n_arms):
        over = sizes[choice + 1].sum(axis=1) > budget
        if not over.any():
            break
        deepest = choice[over].argmax(axis=1)
        choice[np.flatnonzero(over), deepest] = -1
    return choice


@dataclass(eq=False)
class UniformPolicy(ContextualPolicy):
    """Uniformly random allocations at `mean_candidates` candidates on average (learns
    nothing, so burn-in is off by default); `draws` allocations estimate the propensities."""

    name = "uniform"
    burn_in: int = 0
    mean_candidates: float = 60.0
    draws: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("mean_candidates", self.mean_candidates, minimum=0.0)
        check_number("draws", self.draws, minimum=1, integer=True)

    def _decide(self, mean, std, depths, budget):
        choices = random_choices(self.rng, self.draws, mean.shape[0], depths, self.mean_candidates, budget)
        return choices[0], self._shares(choices), np.zeros_like(mean)  # no value: chance decides

    def _learn(self, record, engagement) -> None:
        self.n_updates_ += 1  # counts searches; the allocation never changes
