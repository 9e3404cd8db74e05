"""Learning to rank: featuresets, feature logging, models on disk, upload, the LTR plugin client.

The ranking side (`es_ltrr.ranking`) uses these; training and judgments land here too.
"""

from .feature_log import FeatureLogger, MsearchFeatureLogger, PluginFeatureLogger, feature_logger, log_features
from .featureset import (
    DEFAULT_FEATURESET,
    Feature,
    FeatureSet,
    default_featureset,
    feature_params,
    shipped_featuresets,
    sidecar_features,
)
from .model import LtrModel

__all__ = [
    "DEFAULT_FEATURESET", "Feature", "FeatureLogger", "FeatureSet", "LtrModel", "MsearchFeatureLogger",
    "PluginFeatureLogger", "default_featureset", "feature_logger", "feature_params", "log_features",
    "shipped_featuresets", "sidecar_features",
]
