"""Hybrid ranking as OpenSearch's hybrid query with its normalization processor does it: each
arm's scores min-max normalized over the candidates, then a weighted sum (a baseline of
`es-ltrr evaluate`, not es-ltrr's own ranking)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

MIN_MAX_WEIGHTS = {"lexical": 0.5, "semantic": 0.5}


@dataclass(frozen=True)
class HybridRanker:
    """Min-max normalize each arm's scores over the candidates, then a weighted sum."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(MIN_MAX_WEIGHTS))
    kind: str = "hybrid"
    name: str = "hybrid"

    def score(self, engine: Any, text: str, understanding: Any, candidates: Sequence[Any],
              vector: Any = None) -> list[float]:
        total = np.zeros(len(candidates))
        for arm, weight in self.weights.items():
            raw = np.array([next((p.score for p in c.provenance if p.arm == arm), np.nan) for c in candidates])
            found = ~np.isnan(raw)
            if not found.any():
                continue
            low, high = raw[found].min(), raw[found].max()
            norm = np.where(found, (raw - low) / (high - low) if high > low else 1.0, 0.0)
            total += weight * norm
        return total.tolist()
