"""Feature logging on any engine: the featureset's values for a list of candidate ids.

One `msearch` with one body per feature, each restricted to the candidate ids, so the values
are the engine's own scores of the feature queries — exactly what the LTR plugin computes
inside `sltr` (on a cluster with the plugin, `LtrPlugin.log_features` asks it directly).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..engines.base import Engine
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
