"""Contextual Thompson sampling over arms *and* depths (the es-ltrr policy).

Per query, one value is drawn from the posterior of every (arm, depth) model and the
budgeted allocation runs on the draw: an arm whose value at some depth beats that depth's
cost runs, at the best such depth. Uncertain arms win some draws, so they are tried in
proportion to the chance they are best; well-known ones settle.

Propensities have no closed form (the allocation couples the arms through the budget), so
they are estimated from `draws` posterior draws, the served one among them: P(arm at its
depth) is the share of draws that choose it, at least 1/draws, so always in (0, 1]. With
the default 256 draws the standard error is at most 0.5/√256 ≈ 0.031 (0.016 for a
propensity near 0.05); `tests/unit/test_thompson.py` checks the estimate against a closed
form where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import check_number
from .contextual import ContextualPolicy


@dataclass(eq=False)
class ThompsonPolicy(ContextualPolicy):
    """Linear Thompson sampling with a cost per candidate and a budget (see `ContextualPolicy`);
    `draws` posterior draws estimate each decision's propensities.

    >>> from es_ltrr.retrieval.policy import PolicyContext
    >>> policy = ThompsonPolicy(seed=1, burn_in=0)
    >>> decision = policy.choose(PolicyContext("artist", ("artist",), 2), ["lexical", "semantic"])
    >>> sum(decision.allocations.values()) <= policy.budget
    True
    >>> all(0 < p <= 1 for p in decision.propensities.values())
    True
    """

    name = "thompson"
    draws: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("draws", self.draws, minimum=1, integer=True)

    def _decide(self, mean, std, unique, floors):
        values = self.rng.normal(mean, std, size=(self.draws, *mean.shape))
        choices = self._allocate(values, unique, floors)
        return choices[0], self._shares(choices), values[0]
