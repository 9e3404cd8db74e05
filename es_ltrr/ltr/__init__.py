"""Learning to rank: featuresets, feature logging, models on disk and the LTR plugin client.

The ranking side (`es_ltrr.ranking`) uses these; training, judgments and upload land here too.
"""

from .feature_log import log_features
from .featureset import DEFAULT_FEATURESET, Feature, FeatureSet, default_featureset, feature_params, provenance_features
from .model import LtrModel

__all__ = [
    "DEFAULT_FEATURESET", "Feature", "FeatureSet", "LtrModel", "default_featureset", "feature_params",
    "log_features", "provenance_features",
]
