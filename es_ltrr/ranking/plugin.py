"""Ranking inside the cluster: the LTR plugin's `sltr` query rescoring the union.

The model lives in the plugin's feature store; the sidecar sends the same featureset params
the local ranker uses, so both see one feature definition (`es_ltrr.ranking.ltr.featureset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..retrieval.engines.cluster import ClusterError
from .ltr import feature_params
from .ltr.plugin import LtrPlugin

if TYPE_CHECKING:
    from ..retrieval.engines.cluster import ClusterEngine
    from ..retrieval.union import Candidate
    from ..understanding import Understanding


@dataclass
class PluginRanker:
    """Scores candidates with a model stored in the cluster's LTR plugin."""

    model: str
    kind: str = "sltr"

    @property
    def name(self) -> str:
        return self.model

    def check(self, engine: ClusterEngine) -> str | None:
        """Why this ranker cannot rank now (the model is not in the plugin), or None; a
        cluster that does not answer is the engine's health to report, not the ranker's."""
        try:
            found = LtrPlugin(engine).get_model(self.model)
        except ClusterError:
            return None
        return None if found is not None else f"model {self.model!r} is not in the cluster's LTR plugin"

    def score(self, engine: ClusterEngine, text: str, understanding: Understanding, candidates: Sequence[Candidate],
              vector: np.ndarray | None = None) -> list[float]:
        params = feature_params(text, understanding, candidates, vector, engine.flavor, engine.capabilities.memory)
        scores = LtrPlugin(engine).rescore([c.id for c in candidates], self.model, params)
        return [scores.get(c.id, 0.0) for c in candidates]
