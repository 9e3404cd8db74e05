"""Random depths at a given mean of added candidates: the no-learning control.

Every arm runs at its floor; each goes deeper independently with probability `p`, to a depth
drawn uniformly from those on the menu beyond its floor, with `p` set so that the candidates
the deeper lists add (the policy's learned estimate per arm and depth) average
`mean_candidates` (the simulator passes Thompson's average, so the two are compared at the
same cost); when a draw adds more than the `budget`, its deepest arms go back to their
floors until it fits. The trimming couples the arms, so propensities are estimated like
Thompson's: the share of `draws` random allocations (the served one among them) that give
each arm its depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import check_number
from .contextual import ContextualPolicy


def random_choices(rng: np.random.Generator, draws: int, unique: np.ndarray, floors: np.ndarray,
                   mean_candidates: float, budget: float) -> np.ndarray:
    """Depth index per draw and arm (≥ its floor), uniformly random deeper with the probability
    that adds `mean_candidates` on average (before trimming to `budget`)."""
    n_arms, n_depths = unique.shape
    deeper = [np.arange(f + 1, n_depths) for f in floors]
    expected = sum(float(unique[a, js].mean()) for a, js in enumerate(deeper) if len(js))
    p = min(1.0, mean_candidates / expected) if expected > 0 else 0.0
    choice = np.tile(np.asarray(floors, dtype=int), (draws, 1))
    for a, js in enumerate(deeper):
        if len(js):
            go = rng.random(draws) < p
            choice[go, a] = rng.choice(js, size=int(go.sum()))
    added = unique[np.arange(n_arms)[None, :], choice]
    for _ in range(n_arms):
        over = added.sum(axis=1) > budget
        if not over.any():
            break
        rows = np.flatnonzero(over)
        deepest = added[rows].argmax(axis=1)
        choice[rows, deepest] = np.asarray(floors)[deepest]
        added[rows, deepest] = 0.0
    return choice


@dataclass(eq=False)
class UniformPolicy(ContextualPolicy):
    """Uniformly random depths beyond the floors, adding `mean_candidates` candidates on
    average (learns nothing, so burn-in is off by default); `draws` allocations estimate the
    propensities."""

    name = "uniform"
    burn_in: int = 0
    mean_candidates: float = 60.0
    draws: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("mean_candidates", self.mean_candidates, minimum=0.0)
        check_number("draws", self.draws, minimum=1, integer=True)

    def _decide(self, mean, std, unique, floors):
        choices = random_choices(self.rng, self.draws, unique, floors, self.mean_candidates, self.budget)
        return choices[0], self._shares(choices), np.zeros_like(mean)  # no value: chance decides

    def _learn(self, record, engagement) -> None:
        # measures what each depth adds, so the mean of added candidates holds; the chance of
        # each depth never changes
        self._learn_costs(record)
        self.n_updates_ += 1
