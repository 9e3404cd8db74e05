"""Local LTR ranking: log the featureset's values for the candidates, score with XGBoost.

Feature values come from the engine itself (one `msearch` with one body per feature,
restricted to the candidate ids), exactly as the LTR plugin computes them inside `sltr`,
so a model trained on logged features ranks the same here and in the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..engines.base import Engine
from ..union import Candidate
from .featureset import FeatureSet


def log_features(engine: Engine, featureset: FeatureSet, params: dict[str, Any], ids: Sequence[str]) -> np.ndarray:
    """Matrix [len(ids), n_features] of feature values (0 where a feature does not match)."""
    ids = list(ids)
    bodies = [
        {
            "size": len(ids),
            "_source": False,
            "query": {"bool": {"must": [query], "filter": [{"ids": {"values": ids}}]}},
        }
        for query in featureset.queries(params)
    ]
    row = {doc_id: i for i, doc_id in enumerate(ids)}
    values = np.zeros((len(ids), len(bodies)), dtype=np.float32)
    for j, response in enumerate(engine.msearch(bodies)):
        if "error" in response:
            raise RuntimeError(f"feature {featureset.names[j]!r} failed: {response['error']}")
        for hit in response["hits"]["hits"]:
            values[row[hit["_id"]], j] = hit["_score"]
    return values


@dataclass
class XGBoostRanker:
    """An XGBoost ranking model over a featureset (saved as `<name>.json` + `<name>.meta.json`)."""

    booster: Any
    featureset: FeatureSet
    name: str

    @classmethod
    def load(cls, path: Path, featureset: FeatureSet) -> "XGBoostRanker":
        import xgboost as xgb

        path = Path(path)
        meta = json.loads(path.with_suffix(".meta.json").read_text())
        if meta["features"] != featureset.names:
            raise ValueError(
                f"model {path.name} was trained on features {meta['features']}, "
                f"but featureset {featureset.name!r} has {featureset.names}"
            )
        booster = xgb.Booster()
        booster.load_model(str(path))
        return cls(booster, featureset, meta.get("name", path.stem))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path))
        meta = {"name": self.name, "featureset": self.featureset.name, "features": self.featureset.names}
        path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))

    def predict(self, features: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        matrix = xgb.DMatrix(features, feature_names=self.featureset.names)
        return self.booster.predict(matrix)

    def score(self, engine: Engine, params: dict[str, Any], candidates: Sequence[Candidate]) -> list[float]:
        features = log_features(engine, self.featureset, params, [c.id for c in candidates])
        return [float(s) for s in self.predict(features)]
