"""Local LTR ranking: log the featureset's values for the candidates through the engine,
score them with the XGBoost model in the sidecar (the embedded engine's way to use a model,
and a cluster's when the model is not in its LTR plugin).

How features are logged — per-feature msearch, or the plugin's `ltr_log` — is the
`FeatureLogger` the wiring (`app.py`) chose; missing features reach XGBoost as NaN either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .ltr import FeatureLogger, LtrModel, MsearchFeatureLogger, feature_params

if TYPE_CHECKING:
    from ..retrieval.engines.base import Engine
    from ..retrieval.union import Candidate
    from ..understanding import Understanding


@dataclass
class XGBoostRanker:
    model: LtrModel
    logger: FeatureLogger = field(default_factory=MsearchFeatureLogger)
    kind: str = "xgboost"

    @property
    def name(self) -> str:
        return self.model.name

    def score(self, engine: Engine, text: str, understanding: Understanding, candidates: Sequence[Candidate],
              vector: np.ndarray | None = None) -> list[float]:
        params = feature_params(text, understanding, candidates, vector, engine.flavor, engine.capabilities.memory)
        features = self.logger.log(engine, self.model.featureset, params, [c.id for c in candidates])
        return [float(s) for s in self.model.predict(features)]
