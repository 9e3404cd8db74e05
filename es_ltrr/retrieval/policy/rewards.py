"""Semi-bandit rewards: per executed arm and per depth, did its list hold an engaged entity?

Every executed arm's full ranked list is in the record, so one served search answers for
many depths at once (counterfactually): an arm run at depth 50 whose first engaged entity
sits at rank 12 earned 0 at depth 10 and 1 at depths 25 and 50. Deeper than it ran the
answer is known only when it is 1 (the entity is already within the shallower list) or
when the arm returned fewer hits than asked (a deeper request would return the same list);
otherwise it is unknown and left out, so the learner never invents a miss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from ..union import ArmResult
    from .base import ServedSearch


def first_engaged_rank(ids: Sequence[str], engaged: set[str]) -> int | None:
    """1-based rank of the first engaged id in `ids`, or None."""
    return next((rank for rank, id_ in enumerate(ids, start=1) if id_ in engaged), None)


def arm_depth_rewards(result: ArmResult | None, requested: int, engaged: set[str],
                      menu: Sequence[int]) -> dict[int, float]:
    """Rewards of one arm at each non-zero menu depth that the record can answer.

    `result` None means the arm was chosen but had nothing to say about the query (no slot
    for the structured arm): it would have returned nothing at any depth, a known 0.
    An arm that failed teaches nothing.

    >>> from es_ltrr.retrieval.union import ArmResult
    >>> arm_depth_rewards(ArmResult("lexical", 25, ("a", "b", "c") * 8 + ("x",)), 25, {"x"}, [10, 25, 50])
    {10: 0.0, 25: 1.0, 50: 1.0}
    >>> arm_depth_rewards(ArmResult("lexical", 25, ("a",) * 25), 25, {"x"}, [10, 25, 50])
    {10: 0.0, 25: 0.0}
    """
    if result is None:
        return {d: 0.0 for d in menu if d > 0}
    if result.error or result.timed_out:
        return {}
    first = first_engaged_rank(result.ids, engaged)
    exhausted = len(result.ids) < requested
    out: dict[int, float] = {}
    for depth in (d for d in menu if d > 0):
        if first is not None and first <= depth:
            out[depth] = 1.0
        elif depth <= requested or exhausted:
            out[depth] = 0.0
    return out


def depth_rewards(record: ServedSearch, engagement: Mapping[str, float],
                  menu: Sequence[int]) -> dict[str, dict[int, float]]:
    """Arm → depth → reward for every arm the record ran; an entity counts as engaged when
    its weight is positive (skips and other negative signals do not reward an arm)."""
    engaged = {id_ for id_, weight in engagement.items() if weight > 0}
    return {
        arm: arm_depth_rewards(record.arm_result(arm), requested, engaged, menu)
        for arm, requested in record.decision.allocations.items() if requested > 0
    }
