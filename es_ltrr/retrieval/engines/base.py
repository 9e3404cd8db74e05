"""The `Engine` protocol every backend implements, and the errors they raise.

An engine speaks Elasticsearch's wire shapes: `msearch` takes full search bodies and
returns one ES-shaped response per body, so arm templates are written once and run on a
cluster or in process.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Iterable, Mapping, Protocol, runtime_checkable

from ...common.schema import Capabilities


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


class DocumentMissing(EngineError):
    """An update names ids that are not indexed (ES `document_missing_exception`)."""

    error_type = "document_missing_exception"
    status = 404

    def __init__(self, ids: list[str]):
        shown = ", ".join(repr(i) for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
        super().__init__(f"update: {len(ids)} document(s) missing: {shown}")
        self.ids = ids


def check_update(doc_id: str, fields: Any, known: Collection[str] | None) -> None:
    """The checks every engine's `update` makes before writing: an object of fields, no new
    `id`, and only fields of a strict mapping (`known`; None when the mapping is not strict)."""
    if not isinstance(fields, Mapping):
        raise EngineError(f"update of {doc_id!r}: expected an object of fields, got {type(fields).__name__}")
    if "id" in fields and str(fields["id"]) != str(doc_id):
        raise EngineError(f"update of {doc_id!r}: the 'id' field cannot change")
    unknown = set(fields) - set(known) if known is not None else set()
    if unknown:
        raise EngineError(f"update of {doc_id!r}: fields not in the mapping (dynamic: strict): {sorted(unknown)}")


def error_item(exc: EngineError) -> dict[str, Any]:
    """The `_msearch` response item for a body that failed with `exc`."""
    cause = {"type": exc.error_type, "reason": str(exc)}
    return {"error": {"root_cause": [cause], **cause}, "status": exc.status}


@runtime_checkable
class Engine(Protocol):
    """What retrieval needs from a search backend."""

    flavor: str  # "embedded" | "opensearch" | "elasticsearch"
    #: What the engine's index can hold and run (the Q2E memory's representation, analysis).
    capabilities: Capabilities

    def index(
        self, docs: Iterable[dict], progress: Callable[[int], None] | None = None
    ) -> int:
        """Replace the corpus with `docs`; returns how many are indexed. `progress(n)` gets increments."""
        ...

    def update(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Partial updates by id, like ES `_update` with `doc`: each document's given top-level
        fields replace its stored ones (objects such as rank_features are replaced whole, not
        merged); returns how many documents were updated. Ids that are not indexed raise
        `DocumentMissing` and fields outside the (strict) mapping raise `EngineError`, both
        before anything is written. Updated documents are visible to the next search."""
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
