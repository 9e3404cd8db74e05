"""Semi-bandit rewards: per arm and depth, the page gain that depth bought beyond the floors.

Every arm runs at least its floor (`Arm.floor`): with a ranker that fuses or learns from
every arm's votes, removing an arm costs the page more than its candidates cost. What a
policy decides is how much *deeper* than its floor each arm goes, so its reward values only
what that depth brought that the floors did not:

    r(arm, d) = Σ over entities e the user engaged with, found in the arm's top d and in
                no arm's floor:  weight(e) / log2(1 + position of e on the page)

— relevance found (the engagement's weight: a play counts more than a click) *and* where the
ranker put it (DCG's discount: a deep candidate that reaches the top of the page is worth
more than one that stays at the bottom). At its floor an arm earns 0 by definition.

Every executed arm's full ranked list is in the record, so one served search answers for
every depth up to the one the arm ran (counterfactually: the top d of a deeper list *is*
the depth-d list). Deeper than it ran the answer is known only when the arm returned fewer
hits than asked (a deeper request returns the same list); otherwise it is unknown and left
out, so the learner never invents a value. A search nobody engaged with answers 0 for every
depth it observed: evidence that the depth bought nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from ..union import ArmResult
    from .base import ServedSearch


def page_gains(page: Sequence[str], engagement: Mapping[str, float]) -> dict[str, float]:
    """Engaged entity → weight / log2(1 + its 1-based page position); an engaged entity not
    on the page (a version collapsed into a hit) counts at the position after the last.

    >>> {k: round(v, 3) for k, v in page_gains(["a", "b", "c"], {"a": 1.0, "c": 0.5, "x": -0.5}).items()}
    {'a': 1.0, 'c': 0.25}
    """
    position = {doc: i for i, doc in enumerate(page, start=1)}
    return {doc: weight / math.log2(1 + position.get(doc, len(page) + 1))
            for doc, weight in engagement.items() if weight > 0}


def arm_depth_rewards(result: ArmResult | None, requested: int, gains: Mapping[str, float], free: set[str],
                      menu: Sequence[int]) -> dict[int, float]:
    """The credited gain of one arm at each non-zero menu depth the record can answer:
    Σ gains of the entities in its top d that are not `free` (in some arm's floor).

    `result` None means the arm was chosen but had nothing to say about the query (no slot
    for the structured arm): it would have returned nothing at any depth, a known 0. An arm
    that failed teaches nothing.

    >>> from es_ltrr.retrieval.union import ArmResult
    >>> hits = ArmResult("lexical", 25, tuple(f"d{i}" for i in range(1, 26)))
    >>> arm_depth_rewards(hits, 25, {"d3": 1.0, "d12": 0.5}, {"d3"}, [10, 25, 50])   # d3 is in a floor
    {10: 0.0, 25: 0.5}
    >>> arm_depth_rewards(ArmResult("lexical", 25, ("d1",)), 25, {"d1": 1.0}, set(), [10, 25, 50])  # exhausted
    {10: 1.0, 25: 1.0, 50: 1.0}
    """
    if result is None:
        return {d: 0.0 for d in menu if d > 0}
    if result.error or result.timed_out:
        return {}
    exhausted = len(result.ids) < requested
    out: dict[int, float] = {}
    for depth in (d for d in menu if d > 0):
        if depth <= requested or exhausted:
            out[depth] = float(sum(gains.get(doc, 0.0) for doc in result.ids[:depth] if doc not in free))
    return out


def floor_ids(record: ServedSearch, floors: Mapping[str, int]) -> set[str]:
    """Every entity some executed arm found within its floor: the candidates no policy
    decision can remove."""
    out: set[str] = set()
    for arm, depth in record.decision.allocations.items():
        result = record.arm_result(arm) if depth > 0 else None
        if result is not None:
            out.update(result.ids[: min(depth, floors.get(arm, 0))])
    return out


def depth_rewards(record: ServedSearch, engagement: Mapping[str, float], menu: Sequence[int],
                  floors: Mapping[str, int]) -> dict[str, dict[int, float]]:
    """Arm → depth → reward for every arm the record ran (module docstring); an entity counts
    as engaged when its weight is positive (a skip rewards no depth)."""
    gains = page_gains(record.ids, engagement)
    free = floor_ids(record, floors)
    return {
        arm: arm_depth_rewards(record.arm_result(arm), requested, gains, free, menu)
        for arm, requested in record.decision.allocations.items() if requested > 0
    }


def new_candidates(record: ServedSearch, arm: str, menu: Sequence[int], floors: Mapping[str, int]) -> dict[int, int]:
    """What each depth of `arm` (up to the depth it ran) adds to the union beyond the floors:
    entities in its top d that no arm found within its floor — the candidates, and so the
    ranking and feature cost, that depth buys. Measured against the floors (which always
    run), not against what other arms happened to add, so an arm's cost does not fall
    because others went deep too."""
    mine = record.arm_result(arm)
    requested = record.decision.allocations.get(arm, 0)
    if mine is None or mine.error or requested <= 0:
        return {}
    free = floor_ids(record, floors)
    exhausted = len(mine.ids) < requested
    return {d: sum(1 for doc in mine.ids[:d] if doc not in free)
            for d in menu if d > 0 and (d <= requested or exhausted)}
