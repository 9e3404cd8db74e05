"""The Q2E memory's own role in ranking: a confirmed pair leads the page.

Under reciprocal-rank fusion the memory is one vote among six arms, so an entity the memory
ranks first can still sit at rank 4–8; a trained model saw few learned values and may weigh
the memory feature little. A (query, entity) pair the memory *confirmed* — enough distinct
clients, a dominant share of the key's engagement (`feedback/evidence.py`) — is evidence no
other arm has: users told us what this query means. Its stored value is above
`CONFIRMED_VALUE`, so the q2e arm scores it far above any text match (`retrieval/arms/q2e.py`),
and whatever ranked the candidates (RRF, a local model, `sltr`), confirmed entities are put
first, by their memory score, the ranker's order below them unchanged.
"""

from __future__ import annotations

from typing import Sequence

from ..retrieval.arms.q2e import confirmed
from ..retrieval.union import Candidate

#: The arm whose provenance score carries the memory's value.
MEMORY_ARM = "q2e"


def pin_confirmed(candidates: Sequence[Candidate], scores: Sequence[float]) -> list[float]:
    """`scores` with every candidate whose q2e-arm score says its pair is confirmed moved above
    all others (ordered by that score).

    >>> from es_ltrr.retrieval.union import Provenance
    >>> a = Candidate("a", {}, [Provenance("lexical", 1, 9.0)])
    >>> b = Candidate("b", {}, [Provenance("q2e", 1, 1003.0), Provenance("lexical", 7, 2.0)])
    >>> pin_confirmed([a, b], [0.05, 0.01])
    [0.05, 1004.05]
    """
    pins = {}
    for i, cand in enumerate(candidates):
        memory = next((p.score for p in cand.provenance if p.arm == MEMORY_ARM), None)
        if memory is not None and confirmed(memory):
            pins[i] = memory
    if not pins:
        return list(scores)
    top = max(scores, default=0.0)
    return [top + 1.0 + pins[i] if i in pins else float(s) for i, s in enumerate(scores)]
