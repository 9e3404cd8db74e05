"""Q2E memory: entities that answered this exact (normalized) query before, plus fuzzy
matches against each entity's predicted queries."""

from ...common.analysis import q2e_key
from .base import Arm, ArmInput


def q2e_params(inp: ArmInput) -> dict | None:
    key = q2e_key(inp.text)
    if not key:
        return None
    return {"text": inp.text, "q2e_field": f"q2e.{key}"}


ARM = Arm(
    "q2e",
    "memory",
    q2e_params,
    default_depth=25,
    description="rank_feature on q2e.<normalized query> + match on predicted queries",
)
