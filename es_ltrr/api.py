"""The public request contract of `POST /search` (and `es-ltrr search --json`).

Validation lives here, once, so the HTTP server and the CLI reject the same inputs with the
same messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import MAX_K, MAX_QUERY_CHARS

DEFAULT_K = 10


class BadRequest(ValueError):
    """Input the client must fix; the server answers 400 with this message."""


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = DEFAULT_K
    context: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_search_request(payload: Any, max_query_chars: int = MAX_QUERY_CHARS, max_k: int = MAX_K) -> SearchRequest:
    """Validate a decoded JSON body; raise BadRequest naming the offending field."""
    if not isinstance(payload, Mapping):
        raise BadRequest("request body must be a JSON object")
    unknown = set(payload) - {"query", "k", "context", "debug"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    query = payload.get("query")
    if not isinstance(query, str):
        raise BadRequest("'query' is required and must be a string")
    if "\x00" in query:
        raise BadRequest("'query' must not contain NUL characters")
    if not query.strip():
        raise BadRequest("'query' must not be empty or whitespace")
    if len(query) > max_query_chars:
        raise BadRequest(f"'query' is longer than {max_query_chars} characters ({len(query)})")
    k = payload.get("k", DEFAULT_K)
    if not _is_int(k):
        raise BadRequest("'k' must be an integer")
    if not 1 <= k <= max_k:
        raise BadRequest(f"'k' must be between 1 and {max_k} (got {k})")
    context = payload.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        raise BadRequest("'context' must be a JSON object")
    debug = payload.get("debug", False)
    if not isinstance(debug, bool):
        raise BadRequest("'debug' must be a boolean")
    return SearchRequest(query=query.strip(), k=k, context=dict(context), debug=debug)
