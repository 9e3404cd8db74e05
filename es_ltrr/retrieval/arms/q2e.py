"""Q2E memory: entities that answered this exact (normalized) query before, plus fuzzy
matches against each entity's predicted queries.

The memory clause follows how the cluster stores the memory (`common.schema.Memory`):
`rank_feature` on `q2e.<key>` (rank_features), or `term` on `q2e` with value `<key>`
(Elasticsearch's sparse_vector, where mapper-extras is missing). Both score the key's value
× 10; one template, the `q2e_terms` flag picks the form.
"""

from ...common.analysis import q2e_key
from .base import Arm, ArmInput

#: The `boost` of the template's rank_feature clause (`templates/q2e.mustache`).
RANK_FEATURE_BOOST = 10.0
#: A (query, entity) pair the Q2E memory confirmed (enough distinct clients, a dominant
#: share: `feedback/evidence.py`) is stored at `CONFIRMED_VALUE` + its learned value; every
#: other value is at most 1. So a confirmed entity scores at least
#: `RANK_FEATURE_BOOST × CONFIRMED_VALUE` in this arm — far above any text match — and the
#: page puts it first (`ranking/memory.py`).
CONFIRMED_VALUE = 100.0


def confirmed(arm_score: float) -> bool:
    """Whether a q2e arm hit's score says its pair is confirmed (the stored value is kept with
    9 significant bits on a cluster, so the bound allows for rounding)."""
    return arm_score >= 0.99 * RANK_FEATURE_BOOST * CONFIRMED_VALUE


def q2e_params(inp: ArmInput) -> dict | None:
    key = q2e_key(inp.text)
    if not key:
        return None
    return {"text": inp.text, "q2e_field": f"q2e.{key}", "q2e_key": key,
            "q2e_terms": inp.memory == "sparse_vector"}


ARM = Arm(
    "q2e",
    "memory",
    q2e_params,
    default_depth=25,
    description="rank_feature on q2e.<normalized query> (or term on a sparse_vector q2e) + match on predicted queries",
)
