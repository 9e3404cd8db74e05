"""Feature logging: the featureset's values for a list of candidate ids, on any engine.

Two ways, one result — a float32 matrix [len(ids), n_features] with **NaN where a feature
did not match** a candidate. NaN is XGBoost's *missing*, and it is the one convention of
every path: training data, local scoring and the plugin (the Elasticsearch plugin keeps
unmatched features as NaN and follows the trees' missing branches; for the OpenSearch
plugin, which feeds 0, `es_ltrr.ranking.ltr.upload` rewrites the trees so 0 takes the missing
branch). Feeding 0 locally instead changed scores by up to 1.34 (vendor README).

* `MsearchFeatureLogger` — one `msearch` with one body per feature, each restricted to the
  candidate ids: the engine's own scores of the feature queries. Works on the embedded
  engine and on clusters without the LTR plugin.
* `PluginFeatureLogger` — ONE `sltr` + `ext.ltr_log` request: the plugin renders and runs
  the stored featureset itself.

`feature_logger` is the one place that picks between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from .featureset import FeatureSet
from .plugin import LtrPlugin

if TYPE_CHECKING:
    from ...retrieval.engines.base import Engine


class FeatureLogger(Protocol):
    kind: str  # "msearch" | "ltr_log"

    def log(self, engine: Engine, featureset: FeatureSet, params: dict[str, Any], ids: Sequence[str]) -> np.ndarray:
        """Matrix [len(ids), n_features], NaN where a feature did not match."""
        ...


def log_features(engine: Engine, featureset: FeatureSet, params: dict[str, Any], ids: Sequence[str]) -> np.ndarray:
    """The per-feature msearch path (see `MsearchFeatureLogger`)."""
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
    values = np.full((len(ids), len(bodies)), np.nan, dtype=np.float32)
    for j, response in enumerate(engine.msearch(bodies)):
        if "error" in response:
            raise RuntimeError(f"feature {featureset.names[j]!r} failed: {response['error']}")
        for hit in response["hits"]["hits"]:
            values[row[hit["_id"]], j] = hit["_score"]
    return values


@dataclass(frozen=True)
class MsearchFeatureLogger:
    """Logs through any engine's msearch: one body per feature."""

    kind: str = "msearch"

    def log(self, engine: Engine, featureset: FeatureSet, params: dict[str, Any], ids: Sequence[str]) -> np.ndarray:
        return log_features(engine, featureset, params, ids)


@dataclass(frozen=True)
class PluginFeatureLogger:
    """Logs through the LTR plugin (`ltr_log`): one request for the whole union."""

    kind: str = "ltr_log"

    def log(self, engine: Engine, featureset: FeatureSet, params: dict[str, Any], ids: Sequence[str]) -> np.ndarray:
        logged = LtrPlugin(engine).log_features(ids, featureset.name, params)  # type: ignore[arg-type]
        values = np.full((len(ids), len(featureset.names)), np.nan, dtype=np.float32)
        column = {name: j for j, name in enumerate(featureset.names)}
        for i, doc_id in enumerate(ids):
            for name, value in logged.get(doc_id, {}).items():
                if name not in column:
                    raise RuntimeError(f"the plugin logged feature {name!r}, not in featureset {featureset.name!r}: run es-ltrr apply")
                values[i, column[name]] = value
        return values


def feature_logger(plugin: LtrPlugin | None, featureset: FeatureSet) -> FeatureLogger:
    """`ltr_log` when a cluster's LTR plugin stores exactly `featureset`, else per-feature msearch.

    `plugin` is None on the embedded engine. A stored featureset that differs from ours
    (an older `apply`) would log other features, so it falls back to msearch too.
    """
    if plugin is not None and plugin.featureset_matches(featureset):
        return PluginFeatureLogger()
    return MsearchFeatureLogger()
