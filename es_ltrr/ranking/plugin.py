"""Ranking inside the cluster: the LTR plugin's `sltr` query rescoring the union.

The model lives in the plugin's feature store (uploaded by `scripts/upload_model.py`); the
sidecar sends the same featureset params the local ranker uses, so both see one feature
definition (`ltr_features/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..engines.cluster import ClusterEngine
from ..union import Candidate


@dataclass
class PluginRanker:
    """Scores candidates with a model stored in the cluster's LTR plugin."""

    model: str

    @property
    def name(self) -> str:
        return self.model

    def score(self, engine: ClusterEngine, params: dict[str, Any], candidates: Sequence[Candidate]) -> list[float]:
        scores = engine.rescore([c.id for c in candidates], self.model, params)
        return [scores.get(c.id, 0.0) for c in candidates]
