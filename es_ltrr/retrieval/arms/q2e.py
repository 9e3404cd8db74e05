"""Q2E memory: entities that answered this exact (normalized) query before, plus fuzzy
matches against each entity's predicted queries.

The memory clause follows how the cluster stores the memory (`common.schema.Memory`):
`rank_feature` on `q2e.<key>` (rank_features), or `term` on `q2e` with value `<key>`
(Elasticsearch's sparse_vector, where mapper-extras is missing). Both score the key's value
× 10; one template, the `q2e_terms` flag picks the form.
"""

from ...common.analysis import q2e_key
from .base import Arm, ArmInput


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
