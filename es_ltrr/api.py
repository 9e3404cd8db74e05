"""The public contract of `POST /search` (and `es-ltrr search --json`): the request and
the response.

Validation lives here, once, so the HTTP server and the CLI reject the same inputs with the
same messages; the response JSON is built here, once, from the pipeline's `SearchResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .config import MAX_K, MAX_QUERY_CHARS

if TYPE_CHECKING:
    from .record import SearchResult
    from .union import Candidate

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


def search_response(result: SearchResult) -> dict[str, Any]:
    """The JSON body of `POST /search` for one served search (key order is part of it)."""
    response: dict[str, Any] = {
        "impression_id": result.impression_id,
        "query": result.request.query,
        "arms": [_arm_entry(result, name) for name in result.decision.chosen],
        "ranker": result.ranker,
        "candidates": len(result.candidates),
        "partial": result.partial,
        "hits": [_hit(cand, score) for cand, score in result.hits],
        "timings_ms": dict(result.timings_ms),
    }
    if result.request.debug:
        response["understanding"] = result.understanding.to_dict()
        response["policy"] = result.decision.policy
        response["arm_results"] = [
            {"arm": r.arm, "ids": list(r.ids), "took_ms": r.took_ms} for r in result.arm_results
        ]
    return response


def _arm_entry(result: SearchResult, name: str) -> dict[str, Any]:
    arm = result.arm_result(name)
    entry: dict[str, Any] = {
        "arm": name,
        "requested": result.decision.allocations[name],
        "propensity": result.decision.propensities.get(name, 1.0),
        "status": result.arm_status(name),
        "returned": len(arm.ids) if arm else 0,
    }
    if arm and arm.error:
        entry["error"] = arm.error
    if arm and arm.timed_out:
        entry["timed_out"] = True
    return entry


def _hit(cand: Candidate, score: float) -> dict[str, Any]:
    hit = {"id": cand.id, "type": cand.source.get("type"), "name": cand.source.get("name")}
    hit.update({k: v for k, v in cand.source.items() if k not in hit and k != "id"})
    hit["score"] = round(float(score), 6)
    hit["arms"] = [p.to_dict() for p in cand.provenance]
    return hit
