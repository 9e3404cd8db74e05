"""A fixed allocation: every applicable arm runs with its default (or configured) depth.

The baseline the learning policies are compared against; it learns nothing, so `update`
only validates.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..arms import ARMS, check_arm_names
from .base import Decision, Policy, PolicyContext


def default_allocation() -> dict[str, int]:
    """Each registered arm's default depth."""
    return {name: arm.default_depth for name, arm in ARMS.items()}


class StaticPolicy(Policy):
    """Runs each available arm with a fixed candidate count (propensity 1).

    >>> policy = StaticPolicy({"lexical": 50, "semantic": 0})
    >>> policy.choose(PolicyContext("unknown", (), 1), ["lexical", "semantic", "q2e"]).allocations
    {'lexical': 50, 'semantic': 0, 'q2e': 0}
    """

    name = "static"

    def __init__(self, allocation: Mapping[str, int] | None = None, seed: int | None = None):
        super().__init__(seed)
        allocation = default_allocation() if allocation is None else dict(allocation)
        check_arm_names(allocation, "allocation")
        bad = [f"{arm}={n!r}" for arm, n in allocation.items() if not isinstance(n, int) or isinstance(n, bool) or n < 0]
        if bad:
            raise ValueError(f"allocation depths must be non-negative integers: {', '.join(bad)}")
        self.allocation = allocation

    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision:
        allocations = {arm: self.allocation.get(arm, 0) for arm in available}
        propensities = {arm: 1.0 if n > 0 else 0.0 for arm, n in allocations.items()}
        return Decision(allocations, propensities, self.name)
