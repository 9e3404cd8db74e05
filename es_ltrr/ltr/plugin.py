"""The LTR plugin's REST API (o19s Elasticsearch LTR, OpenSearch LTR), on a cluster engine.

Every call es-ltrr makes to the plugin is here: the feature store, featuresets, models,
`sltr` rescoring and `ltr_log` feature logging. The calls go through the engine's `request`
(its auth, timeouts and circuit breaker); both flavors serve the same `_ltr` endpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..engines.cluster import ClusterError
from .featureset import FeatureSet

if TYPE_CHECKING:
    from ..engines.cluster import ClusterEngine

#: Model types the plugin accepts (`model/xgboost+json` is a `get_dump(dump_format="json")` list).
MODEL_TYPES = ("model/xgboost+json", "model/xgboost+json+raw", "model/ranklib", "model/linear")


class LtrPlugin:
    """A thin client: one method per plugin call, raising `ClusterError` with the reason."""

    def __init__(self, engine: ClusterEngine):
        self.engine = engine

    # -- feature store and featuresets ---------------------------------------------------

    def store_exists(self) -> bool:
        try:
            return bool(self.engine.request("GET", "/_ltr").get("stores"))
        except ClusterError:
            return False

    def create_store(self) -> None:
        self.engine.request("PUT", "/_ltr")

    def stored_featureset(self, name: str) -> dict[str, Any] | None:
        """The featureset as stored (`featureset` object), or None when absent."""
        try:
            found = self.engine.request("GET", f"/_ltr/_featureset/{name}")
        except ClusterError:
            return None
        return found.get("_source", {}).get("featureset", found.get("featureset", {}))

    def featureset_matches(self, fs: FeatureSet) -> bool:
        stored = self.stored_featureset(fs.name)
        if stored is None:
            return False
        features = stored.get("features", [])
        return [(f.get("name"), f.get("template")) for f in features] == [(f.name, f.template) for f in fs.features]

    def put_featureset(self, fs: FeatureSet) -> None:
        """Store `fs`, replacing a stored one (featuresets cannot be updated in place)."""
        try:
            self.engine.request("DELETE", f"/_ltr/_featureset/{fs.name}")
        except ClusterError:
            pass
        self.engine.request("PUT", f"/_ltr/_featureset/{fs.name}", fs.plugin_body())

    # -- models ------------------------------------------------------------------------

    def upload_model(self, featureset: str, name: str, definition: Any, model_type: str = "model/xgboost+json") -> None:
        """Create model `name` from `featureset` (delete first: models cannot be updated)."""
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model type {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
        self.delete_model(name)
        body = {"model": {"name": name, "model": {"type": model_type, "definition": definition}}}
        self.engine.request("POST", f"/_ltr/_featureset/{featureset}/_createmodel", body)

    def delete_model(self, name: str) -> bool:
        """Delete model `name`; False when there was none."""
        try:
            self.engine.request("DELETE", f"/_ltr/_model/{name}")
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- ranking and logging -------------------------------------------------------------

    def rescore(self, ids: Sequence[str], model: str, params: dict[str, Any]) -> dict[str, float]:
        """Model scores of `ids` from the plugin's `sltr` query (id → score)."""
        body = {
            "size": len(ids),
            "_source": False,
            "query": {"ids": {"values": list(ids)}},
            "rescore": {
                "window_size": len(ids),
                "query": {
                    "rescore_query": {"sltr": {"params": params, "model": model}},
                    "query_weight": 0.0,
                    "rescore_query_weight": 1.0,
                },
            },
        }
        result = self.engine.request("POST", f"/{self.engine.index_name}/_search", body)
        return {h["_id"]: float(h["_score"]) for h in result["hits"]["hits"]}

    def log_features(self, ids: Sequence[str], featureset: str, params: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Feature values of `ids` logged by the plugin (`ltr_log`): id → {feature: value}."""
        body = {
            "size": len(ids),
            "_source": False,
            "query": {
                "bool": {
                    "filter": [
                        {"ids": {"values": list(ids)}},
                        {"sltr": {"_name": "logged_featureset", "featureset": featureset, "params": params}},
                    ]
                }
            },
            "ext": {"ltr_log": {"log_specs": {"name": "features", "named_query": "logged_featureset", "missing_as_zero": True}}},
        }
        result = self.engine.request("POST", f"/{self.engine.index_name}/_search", body)
        logged: dict[str, dict[str, float]] = {}
        for hit in result["hits"]["hits"]:
            entries = hit.get("fields", {}).get("_ltrlog", [{}])[0].get("features", [])
            logged[hit["_id"]] = {e["name"]: float(e.get("value", 0.0)) for e in entries}
        return logged
