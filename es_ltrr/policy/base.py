"""The interface every arm-selection policy implements (the static one now, Thompson
sampling next): `choose` an allocation of candidates per arm, `update` from rewards.

Shaped like river's bandit policies: a small object with seeded randomness passed in,
whose decision carries the propensity of each arm's inclusion so logged decisions can
later evaluate other policies off-line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence


@dataclass(frozen=True)
class PolicyContext:
    """What a policy sees of a query: understanding summary and the caller's context."""

    intent: str
    slot_kinds: tuple[str, ...]
    n_tokens: int
    request_context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Candidates to draw per arm (0 = do not run) and P(arm included) under the policy."""

    allocations: dict[str, int]
    propensities: dict[str, float]
    policy: str

    @property
    def chosen(self) -> list[str]:
        return [arm for arm, n in self.allocations.items() if n > 0]


class Policy(Protocol):
    name: str

    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision: ...

    def update(self, context: PolicyContext, decision: Decision, rewards: Mapping[str, float]) -> None: ...
