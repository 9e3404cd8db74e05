"""Ranking the union behind one `Ranker` protocol: reciprocal-rank fusion, a local XGBoost
model over the LTR featureset, or the LTR plugin's `sltr` inside the cluster."""

from .base import Ranker, label
from .fusion import RRFRanker, fusion_weights, rrf_scores
from .local import XGBoostRanker
from .plugin import PluginRanker

__all__ = ["PluginRanker", "RRFRanker", "Ranker", "XGBoostRanker", "fusion_weights", "label", "rrf_scores"]
