"""ε-greedy over arms and depths: the posterior mean's allocation, or with probability
`epsilon` a uniformly random one within the budget (`uniform.random_choices`).

Propensity: (1 − ε)·[greedy chose d] + ε·P_random(d), with P_random estimated from
`draws` random allocations as the uniform policy does.
"""

from __future__ import annotations

from typing import Any

from .contextual import ContextualPolicy
from .uniform import random_choices


class EpsilonGreedyPolicy(ContextualPolicy):
    """Exploit the mean; explore at random with probability `epsilon`."""

    name = "epsilon_greedy"

    def __init__(self, seed: int | None = None, epsilon: float = 0.1, explore_candidates: float = 60.0,
                 draws: int = 256, **hyper: Any):
        super().__init__(seed, **hyper)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon, self.explore_candidates, self.draws = epsilon, explore_candidates, draws

    def _decide(self, mean, std, depths, budget):
        greedy = self._allocate(mean[None], depths, budget)[0]
        random = random_choices(self.rng, self.draws, mean.shape[0], depths, self.explore_candidates, budget)
        explore = self.rng.random() < self.epsilon
        choice = random[0] if explore else greedy
        greedy_dist, random_dist = self._shares(greedy[None]), self._shares(random)
        dists = [{d: (1 - self.epsilon) * g[d] + self.epsilon * r[d] for d in g} for g, r in zip(greedy_dist, random_dist)]
        return choice, dists, mean
