"""es-ltrr: learning to rank *and retrieve* for Elasticsearch and OpenSearch."""

__version__ = "0.1.0"
