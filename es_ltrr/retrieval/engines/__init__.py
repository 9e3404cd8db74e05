"""Search backends behind one small protocol (`base.Engine`)."""

from es_ltrr.retrieval.engines.base import DocumentMissing, Engine, EngineError, QueryError, UnsupportedQuery
from es_ltrr.retrieval.engines.clients import ElasticsearchEngine, OpenSearchEngine
from es_ltrr.retrieval.engines.cluster import ClusterEngine, ClusterError
from es_ltrr.retrieval.engines.embedded import EmbeddedEngine

__all__ = [
    "ClusterEngine", "ClusterError", "DocumentMissing", "ElasticsearchEngine", "EmbeddedEngine", "Engine",
    "EngineError", "OpenSearchEngine", "QueryError", "UnsupportedQuery",
]
