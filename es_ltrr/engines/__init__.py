"""Search backends behind one small protocol (`base.Engine`)."""

from es_ltrr.engines.base import Engine, EngineError, QueryError, UnsupportedQuery
from es_ltrr.engines.embedded import EmbeddedEngine

__all__ = ["EmbeddedEngine", "Engine", "EngineError", "QueryError", "UnsupportedQuery"]
