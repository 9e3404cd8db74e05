"""Arm-selection policies (learning to retrieve): one policy per module behind `Policy`.

`static` runs every arm at its default depth; `thompson` (the product's policy), `ucb`,
`epsilon_greedy` and `uniform` choose arms and depths per query (`contextual.py`).
"""

from __future__ import annotations

from .base import STATE_VERSION, Decision, Policy, PolicyContext, ServedSearch
from .contextual import DEFAULT_DEPTHS, ContextualPolicy
from .epsilon_greedy import EpsilonGreedyPolicy
from .static import StaticPolicy, default_allocation
from .thompson import ThompsonPolicy
from .ucb import UCBPolicy
from .uniform import UniformPolicy

#: Every policy by name (the conformance test runs over all of them; `--policy` picks one).
POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (StaticPolicy, ThompsonPolicy, UCBPolicy, EpsilonGreedyPolicy, UniformPolicy)
}
#: The policies that learn, simplest first (the order the simulator and OPE report them in).
LEARNING_POLICIES: tuple[str, ...] = tuple(name for name in reversed(POLICIES) if name != StaticPolicy.name)

__all__ = [
    "DEFAULT_DEPTHS", "LEARNING_POLICIES", "POLICIES", "STATE_VERSION", "ContextualPolicy", "Decision", "EpsilonGreedyPolicy", "Policy",
    "PolicyContext", "ServedSearch", "StaticPolicy", "ThompsonPolicy", "UCBPolicy", "UniformPolicy", "default_allocation",
]
