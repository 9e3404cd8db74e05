"""LinUCB over arms and depths: the posterior mean plus `alpha` standard deviations.

Deterministic given its state, so each decision has propensity 1 (its logs support
off-policy evaluation of no other policy — one reason the product samples instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import check_number
from .contextual import ContextualPolicy


@dataclass(eq=False)
class UCBPolicy(ContextualPolicy):
    """Optimism in the face of uncertainty: value = mean + alpha · std."""

    name = "ucb"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("alpha", self.alpha, minimum=0.0)

    def _decide(self, mean, std, unique, floors):
        values = mean + self.alpha * std
        choice = self._allocate(values[None], unique, floors)
        return choice[0], self._shares(choice), values
