"""LinUCB over arms and depths: the posterior mean plus `alpha` standard deviations.

Deterministic given its state, so each decision has propensity 1 (its logs support
off-policy evaluation of no other policy — one reason the product samples instead).
"""

from __future__ import annotations

from typing import Any

from .contextual import ContextualPolicy


class UCBPolicy(ContextualPolicy):
    """Optimism in the face of uncertainty: value = mean + alpha · std."""

    name = "ucb"

    def __init__(self, seed: int | None = None, alpha: float = 1.0, **hyper: Any):
        super().__init__(seed, **hyper)
        self.alpha = alpha

    def _decide(self, mean, std, depths, budget):
        values = mean + self.alpha * std
        choice = self._allocate(values[None], depths, budget)
        return choice[0], self._shares(choice), values
