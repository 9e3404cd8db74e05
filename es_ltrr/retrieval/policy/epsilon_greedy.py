"""ε-greedy over arms and depths: the posterior mean's allocation, or with probability
`epsilon` a uniformly random one within the budget (`uniform.random_choices`).

Propensity: (1 − ε)·[greedy chose d] + ε·P_random(d), with P_random estimated from
`draws` random allocations as the uniform policy does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import check_number
from .contextual import ContextualPolicy
from .uniform import random_choices


@dataclass(eq=False)
class EpsilonGreedyPolicy(ContextualPolicy):
    """Exploit the mean; explore at random with probability `epsilon`, at `explore_candidates`
    candidates on average; `draws` random allocations estimate the propensities."""

    name = "epsilon_greedy"
    epsilon: float = 0.1
    explore_candidates: float = 60.0
    draws: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("epsilon", self.epsilon, minimum=0.0, maximum=1.0)
        check_number("explore_candidates", self.explore_candidates, minimum=0.0)
        check_number("draws", self.draws, minimum=1, integer=True)

    def _decide(self, mean, std, unique, floors):
        greedy = self._allocate(mean[None], unique, floors)[0]
        random = random_choices(self.rng, self.draws, unique, floors, self.explore_candidates, self.budget)
        explore = self.rng.random() < self.epsilon
        choice = random[0] if explore else greedy
        greedy_dist, random_dist = self._shares(greedy[None]), self._shares(random)
        dists = [{d: (1 - self.epsilon) * g[d] + self.epsilon * r[d] for d in g} for g, r in zip(greedy_dist, random_dist)]
        return choice, dists, mean
