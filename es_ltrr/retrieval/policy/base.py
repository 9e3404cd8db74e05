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
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..union import ArmResult

#: Version of the `state()` layout shared by all policies (each adds its own fields).
STATE_VERSION = 1


@dataclass(frozen=True)
class PolicyContext:
    """What a policy sees of a query: the understanding's summary, the time it was served and
    the caller's `context`. Everything a learning policy featurizes is here (not derived
    later from the clock), so a logged search replays to the same features."""

    intent: str
    slot_kinds: tuple[str, ...]
    n_tokens: int
    request_context: Mapping[str, Any] = field(default_factory=dict)
    intent_confidence: float = 1.0
    #: The understanding matched a name spelled otherwise (fuzzy matching fired).
    misspelled: bool = False
    #: "latin", "other" (a non-Latin script dominates) or "none" (no letters).
    script: str = "latin"
    #: Day of week (0 = Monday) and hour (0-23) the search was served, UTC.
    weekday: int = 0
    hour: int = 12


@dataclass(frozen=True)
class Decision:
    """Candidates to draw per arm (0 = do not run) and the propensity of each arm's choice.

    `propensities[arm]` is P(this arm gets the depth it got) under the policy at decision
    time, in (0, 1] for every arm a learning policy decided on (static: 1 for a chosen arm,
    0 for an arm it never runs). `depths[arm]` is the whole distribution over the depth menu
    when the policy has one, for off-policy estimators. `forced` names arms a rule set
    (propensity 1, not the policy's draw); `explain` says per arm why (shown with `debug`).
    """

    allocations: dict[str, int]
    propensities: dict[str, float]
    policy: str
    depths: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    forced: Mapping[str, str] = field(default_factory=dict)
    #: A diagnostic, not part of what was decided: left out of comparisons and of the log.
    explain: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def chosen(self) -> list[str]:
        return [arm for arm, n in self.allocations.items() if n > 0]

    @property
    def candidates_requested(self) -> int:
        return sum(self.allocations.values())


def check_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False, exclusive: bool = False) -> None:
    """A hyper-parameter that is not a number in range is a ValueError naming it (a TOML typo
    must not surface later as a TypeError deep inside a decision).

    >>> check_number("cost", 0.004, minimum=0.0)
    >>> check_number("draws", 0, minimum=1, integer=True)
    Traceback (most recent call last):
    ...
    ValueError: draws must be an integer ≥ 1, got 0
    """
    kinds = (int,) if integer else (int, float)
    low = "" if minimum is None else f" {'>' if exclusive else '≥'} {minimum}"
    high = "" if maximum is None else f" ≤ {maximum}"
    ok = isinstance(value, kinds) and not isinstance(value, bool) and value == value
    if ok and minimum is not None:
        ok = value > minimum if exclusive else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what}{low}{' and' if low and high else ''}{high}, got {value!r}")


class ServedSearch(Protocol):
    """What learning reads of a served search: the context the policy saw, what it decided,
    the page, and each executed arm's full ranked list. The live record (`search.record.SearchResult`)
    and the logged one (`feedback.impression.Impression`, its projection) both answer it, so
    an event that arrives minutes later — or is replayed from the log — teaches exactly what
    the live search would. Rewards, `Policy.update` and the off-policy estimators read this
    and nothing else."""

    @property
    def context(self) -> PolicyContext: ...

    @property
    def decision(self) -> Decision: ...

    @property
    def ids(self) -> Sequence[str]:
        """The page: entity ids in the order they were shown."""

    def arm_result(self, arm: str) -> ArmResult | None:
        """What `arm` returned, or None when it was not chosen or did not apply."""


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

    def update(self, record: ServedSearch, engagement: Mapping[str, float]) -> None:
        """Learn from one served search: `engagement` maps entity ids to what the user did
        with them (> 0 engaged: a click, a play; < 0 a skip). Policies turn it into per-arm,
        per-depth rewards with `policy.rewards.depth_rewards` from the record's arm lists.

        Policies that learn override `_learn`; the base validates the input first.
        """
        bad = [f"{k!r}={v!r}" for k, v in engagement.items()
               if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)) or v != v]
        if bad:
            raise ValueError(f"engagement maps entity ids to numbers: {', '.join(bad[:5])}")
        with self._lock:
            self._learn(record, engagement)

    def _learn(self, record: ServedSearch, engagement: Mapping[str, float]) -> None:
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
