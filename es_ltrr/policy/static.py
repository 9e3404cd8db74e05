"""A fixed allocation: every applicable arm runs with its configured depth.

The baseline the learning policies are compared against; `update` is intentionally a
no-op because a static policy has nothing to learn.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .base import Decision, PolicyContext

DEFAULT_ALLOCATION: dict[str, int] = {
    "lexical": 50,
    "popular": 25,
    "structured": 50,
    "semantic": 50,
    "q2e": 25,
    "explore": 10,
}


class StaticPolicy:
    """Runs each available arm with a fixed candidate count (propensity 1)."""

    name = "static"

    def __init__(self, allocation: Mapping[str, int] | None = None):
        self.allocation = dict(DEFAULT_ALLOCATION if allocation is None else allocation)

    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision:
        allocations = {arm: int(self.allocation.get(arm, 0)) for arm in available}
        propensities = {arm: 1.0 if n > 0 else 0.0 for arm, n in allocations.items()}
        return Decision(allocations, propensities, self.name)

    def update(self, context: PolicyContext, decision: Decision, rewards: Mapping[str, float]) -> None:
        return None
