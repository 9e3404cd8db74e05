"""What every arm-selection policy is: a seeded object that `choose`s how many candidates
each arm draws for a query and `update`s itself from the rewards of a served search.

Shaped like river's and MABWiser's bandits and scikit-learn's estimators: hyper-parameters
are constructor arguments; learned state lives in attributes ending in `_`; the policy owns
its seed and RNG (so a run replays); `state()` / `load_state()` round-trip everything it
learned as JSON-ready data; and every decision carries the propensity of each arm's
inclusion, so logged decisions can evaluate other policies off-line. `tests/unit/
test_policies.py` holds the conformance checks every policy must pass.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..record import SearchResult

#: Version of the `state()` layout shared by all policies (each adds its own fields).
STATE_VERSION = 1


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


class Policy(ABC):
    """Base class: owns the seed and RNG, serializes state; subclasses decide and learn."""

    name: ClassVar[str]

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # waitress serves searches from several threads; draws and updates must not interleave
        self._lock = threading.RLock()

    @abstractmethod
    def choose(self, context: PolicyContext, available: Sequence[str]) -> Decision:
        """Allocations for the arms in `available` (every available arm gets an entry)."""

    def update(self, record: SearchResult, rewards: Mapping[str, float]) -> None:
        """Learn from one served search: `rewards` maps each executed arm to its reward.

        Policies that learn override `_learn`; the base validates the arms first.
        """
        unknown = set(rewards) - set(record.decision.allocations)
        if unknown:
            raise ValueError(f"rewards for arms the decision did not include: {', '.join(sorted(unknown))}")
        with self._lock:
            self._learn(record, rewards)

    def _learn(self, record: SearchResult, rewards: Mapping[str, float]) -> None:
        """Update learned state (no-op for policies that do not learn)."""

    def state(self) -> dict[str, Any]:
        """Everything needed to resume: name, version, seed, RNG state and learned state."""
        with self._lock:
            return {
                "policy": self.name,
                "version": STATE_VERSION,
                "seed": self.seed,
                "rng": self.rng.bit_generator.state,
                "learned": self._learned_state(),
            }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Resume from `state()`; a state of another policy or version is a ValueError."""
        if state.get("policy") != self.name:
            raise ValueError(f"state belongs to policy {state.get('policy')!r}, not {self.name!r}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"policy state version {state.get('version')!r} is not {STATE_VERSION}")
        with self._lock:
            self.seed = state.get("seed")
            self.rng.bit_generator.state = state["rng"]
            self._load_learned(state.get("learned") or {})

    def _learned_state(self) -> dict[str, Any]:
        return {}

    def _load_learned(self, learned: Mapping[str, Any]) -> None:
        """Restore what `_learned_state` wrote."""
