"""Ranking the union: reciprocal-rank fusion, or an XGBoost LTR model over a featureset."""

from .featureset import FeatureSet, default_featureset, feature_params
from .fusion import fusion_weights, rrf_scores
from .local import XGBoostRanker, log_features
from .plugin import PluginRanker

__all__ = ["PluginRanker", "FeatureSet", "XGBoostRanker", "default_featureset", "feature_params", "log_features", "rrf_scores", "fusion_weights"]
