"""Local LTR ranking: log the featureset's values for the candidates through the engine,
score them with the XGBoost model in the sidecar (the embedded engine's way to use a model,
and a cluster's when it has no LTR plugin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ..ltr import LtrModel, feature_params, log_features

if TYPE_CHECKING:
    from ..engines.base import Engine
    from ..understanding import Understanding
    from ..union import Candidate


@dataclass
class XGBoostRanker:
    model: LtrModel
    kind: str = "xgboost"

    @property
    def name(self) -> str:
        return self.model.name

    def score(self, engine: Engine, text: str, understanding: Understanding,
              candidates: Sequence[Candidate]) -> list[float]:
        params = feature_params(text, understanding, candidates)
        features = log_features(engine, self.model.featureset, params, [c.id for c in candidates])
        return [float(s) for s in self.model.predict(features)]
