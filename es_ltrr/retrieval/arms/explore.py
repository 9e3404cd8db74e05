"""Exploration: long-tail or fresh entities matching the query, in a seeded random order,
so items the other arms never surface can earn feedback."""

from .base import Arm, ArmInput


def explore_params(inp: ArmInput) -> dict:
    return {
        "text": inp.text,
        "seed": int(inp.seed),
        "long_tail_max": inp.catalog.long_tail_max,
        "fresh_since": inp.catalog.fresh_since,
    }


ARM = Arm(
    "explore",
    "explore",
    explore_params,
    default_depth=10,
    fusion_weight=0.2,
    description="long-tail (low popularity) or fresh entities matching the query, random order",
)
