"""The `Engine` protocol every backend implements, and the errors they raise.

An engine speaks Elasticsearch's wire shapes: `msearch` takes full search bodies and
returns one ES-shaped response per body, so arm templates are written once and run on a
cluster or in process.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol, runtime_checkable


class EngineError(Exception):
    """Base error of every engine; `error_type`/`status` become an msearch error item."""

    error_type = "engine_exception"
    status = 500


class QueryError(EngineError):
    """A malformed request: a missing parameter, a value of the wrong type, ..."""

    error_type = "parsing_exception"
    status = 400


class UnsupportedQuery(QueryError):
    """A clause or parameter this engine does not execute; the message names its JSON path.

    Raised instead of approximating, e.g. "unsupported query clause 'geo_shape' at
    query.bool.filter[0]".
    """

    error_type = "unsupported_query_exception"
    status = 400


def error_item(exc: EngineError) -> dict[str, Any]:
    """The `_msearch` response item for a body that failed with `exc`."""
    cause = {"type": exc.error_type, "reason": str(exc)}
    return {"error": {"root_cause": [cause], **cause}, "status": exc.status}


@runtime_checkable
class Engine(Protocol):
    """What retrieval needs from a search backend."""

    flavor: str  # "embedded" | "opensearch" | "elasticsearch"

    def index(
        self, docs: Iterable[dict], progress: Callable[[int], None] | None = None
    ) -> int:
        """Replace the corpus with `docs`; returns how many are indexed. `progress(n)` gets increments."""
        ...

    def msearch(self, bodies: list[dict]) -> list[dict]:
        """One ES-shaped response (or error item) per search body, in order."""
        ...

    def get(self, ids: list[str]) -> dict[str, dict]:
        """`_source` by id; unknown ids are omitted."""
        ...

    def health(self) -> dict:
        """`{"status": "green", "docs": N, "flavor": ...}`."""
        ...
