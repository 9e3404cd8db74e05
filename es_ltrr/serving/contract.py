"""The public contract of `POST /search` (and `es-ltrr search --json`): the request and
the response.

Validation lives here, once, so the HTTP server and the CLI reject the same inputs with the
same messages; the response JSON is built here, once, from the pipeline's `SearchResult`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

from ..search.request import DEFAULT_K, MAX_ID_CHARS, MAX_K, MAX_QUERY_CHARS, SearchRequest

if TYPE_CHECKING:
    from ..retrieval.union import Candidate
    from ..search.record import SearchResult

#: Deepest accepted `context` (objects/arrays inside one another, `context` itself counting 1).
MAX_CONTEXT_DEPTH = 16


class BadRequest(ValueError):
    """Input the client must fix; the server answers 400 with this message."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_json(text: str | bytes, what: str = "request body") -> Any:
    """Decode JSON text (bytes as UTF-8); every way it can fail is a BadRequest naming `what`.

    Deep nesting fails inside the decoder (RecursionError) and huge integers fail with a
    plain ValueError: both are the client's input, not server errors.
    """
    encoded = isinstance(text, bytes)
    try:
        return json.loads(text.decode("utf-8") if encoded else text)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except ValueError as exc:  # also JSONDecodeError and UnicodeDecodeError
        raise BadRequest(f"{what} is not valid {'UTF-8 ' if encoded else ''}JSON: {exc}") from None


def _check_text(text: str, where: str) -> None:
    """Refuse unpaired UTF-16 surrogates: no UTF-8 encoder (tokenizer, response) accepts them.

    They come from JSON escapes (`"\\ud800"`; a valid pair decodes to one code point, so any
    surrogate left is unpaired) and from undecodable bytes in a command line's arguments.

    >>> _check_text("ok " + chr(0x1F600), "'query'")
    >>> _check_text("bad " + chr(0xD800), "'query'")
    Traceback (most recent call last):
    ...
    es_ltrr.serving.contract.BadRequest: 'query' is not valid Unicode: it contains an unpaired UTF-16 surrogate (U+D800)
    """
    bad = next((ch for ch in text if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise BadRequest(f"{where} is not valid Unicode: it contains an unpaired UTF-16 surrogate (U+{ord(bad):04X})")


def _check_context(value: Any, where: str = "context", depth: int = 1) -> None:
    """Bounded nesting and valid text in every key and string of `context`, naming the place."""
    if depth > MAX_CONTEXT_DEPTH and isinstance(value, (Mapping, list)):
        raise BadRequest(f"'context' is nested deeper than {MAX_CONTEXT_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value, f"'{where}'")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_text(key, f"a key in '{where}'")
            _check_context(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_context(item, f"{where}[{i}]", depth + 1)


def parse_search_request(payload: Any, max_query_chars: int = MAX_QUERY_CHARS, max_k: int = MAX_K) -> SearchRequest:
    """Validate a decoded JSON body; raise BadRequest naming the offending field."""
    if not isinstance(payload, Mapping):
        raise BadRequest("request body must be a JSON object")
    for name in payload:
        _check_text(name, "a field name")
    unknown = set(payload) - {"query", "k", "context", "debug", "client_id", "session_id"}
    if unknown:  # `{"q": "x"}`: both faults at once, so the client fixes the body in one go
        missing = "" if "query" in payload else "; 'query' is required (the search text)"
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}{missing}")
    query = payload.get("query")
    if not isinstance(query, str):
        raise BadRequest("'query' is required and must be a string")
    _check_text(query, "'query'")
    if "\x00" in query:
        raise BadRequest("'query' must not contain NUL characters")
    if not query.strip():
        raise BadRequest("'query' must not be empty or whitespace")
    if len(query) > max_query_chars:
        raise BadRequest(f"'query' is longer than the limit of {max_query_chars} characters (got {len(query)})")
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
    _check_context(context)
    debug = payload.get("debug", False)
    if not isinstance(debug, bool):
        raise BadRequest("'debug' must be a boolean")
    return SearchRequest(query=query.strip(), k=k, context=dict(context), debug=debug,
                         client_id=_ubi_id(payload, "client_id"), session_id=_ubi_id(payload, "session_id"))


def _ubi_id(payload: Mapping[str, Any], name: str) -> str | None:
    """UBI's `client_id` / `session_id`: optional, a non-empty string of at most
    `MAX_ID_CHARS` characters without control characters (they are logged and mirrored).

    >>> _ubi_id({"session_id": "s-1"}, "session_id"), _ubi_id({}, "client_id")
    ('s-1', None)
    >>> _ubi_id({"client_id": "a\\nb"}, "client_id")
    Traceback (most recent call last):
    ...
    es_ltrr.serving.contract.BadRequest: 'client_id' must not contain control characters
    """
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    _check_text(value, f"'{name}'")
    if not value.strip():
        raise BadRequest(f"'{name}' must not be empty or whitespace")
    if len(value) > MAX_ID_CHARS:
        raise BadRequest(f"'{name}' is longer than the limit of {MAX_ID_CHARS} characters (got {len(value)})")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise BadRequest(f"'{name}' must not contain control characters")
    return value


def search_response(result: SearchResult) -> dict[str, Any]:
    """The JSON body of `POST /search` for one served search (key order is part of it)."""
    response: dict[str, Any] = {
        "impression_id": result.impression_id,
        "query": result.request.query,
        "arms": [_arm_entry(result, name) for name in result.decision.chosen],
        "ranker": result.ranker,
        "candidates": len(result.candidates),
        "partial": result.partial,
        "confidence": result.confidence,
        "no_match": result.no_match,
        "hits": [_hit(cand, score, result.variant_ids(j)) for j, (cand, score) in enumerate(result.hits)],
        "timings_ms": dict(result.timings_ms),
    }
    if result.request.debug:
        response["understanding"] = result.understanding.to_dict()
        response["policy"] = result.decision.policy
        response["decision"] = _decision_debug(result)
        response["arm_results"] = [
            {"arm": r.arm, "ids": list(r.ids), "took_ms": r.took_ms} for r in result.arm_results
        ]
    return response


def _decision_debug(result: SearchResult) -> dict[str, Any]:
    """Per arm: the depth chosen, its propensity, and why (a rule, or the policy's posterior
    mean, the value drawn and the reason the depth won or the arm was left out)."""
    d = result.decision
    out: dict[str, Any] = {}
    for arm, depth in d.allocations.items():
        entry: dict[str, Any] = {"depth": depth, "propensity": d.propensities.get(arm, 1.0)}
        if arm in d.forced:
            entry["forced"] = d.forced[arm]
        entry.update({k: v for k, v in d.explain.get(arm, {}).items() if k != "depth"})
        out[arm] = entry
    return out


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


def _hit(cand: Candidate, score: float, variants: list[str]) -> dict[str, Any]:
    hit = {"id": cand.id, "type": cand.source.get("type"), "name": cand.source.get("name")}
    hit.update({k: v for k, v in cand.source.items() if k not in hit and k != "id"})
    hit["score"] = round(float(score), 6)
    hit["arms"] = [p.to_dict() for p in cand.provenance]
    if variants:
        hit["variants"] = variants
    return hit
