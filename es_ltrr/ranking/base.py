"""The `Ranker` protocol: one way to score the candidate union, whatever ranks it.

Fusion (RRF), a local XGBoost model and the LTR plugin's `sltr` all take the same inputs —
the engine, the query, its understanding and (when one was computed) its vector, the
candidates with provenance — so the pipeline calls one method and never asks which kind it
holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ..retrieval.engines.base import Engine
    from ..retrieval.union import Candidate
    from ..understanding import Understanding


@runtime_checkable
class Ranker(Protocol):
    kind: str  # "rrf" | "xgboost" | "sltr": what the response's `ranker` names
    name: str  # the model's name (the kind itself for fusion)

    def score(self, engine: Engine, text: str, understanding: Understanding, candidates: Sequence[Candidate],
              vector: np.ndarray | None = None) -> list[float]:
        """One score per candidate, larger is better; raises EngineError/RuntimeError on faults."""
        ...


def label(ranker: Ranker) -> str:
    """`rrf`, or `<kind>:<model name>` — the response's `ranker` field."""
    return ranker.kind if ranker.name == ranker.kind else f"{ranker.kind}:{ranker.name}"
