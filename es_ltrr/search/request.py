"""What a search is asked for: the core request type every caller builds (the HTTP API and
the CLI through `serving.contract`, the simulator, evaluation and training directly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_K = 10
#: Longest accepted query, in characters (code points). Longer text is refused, not truncated:
#: a cut query is one the user did not type. The catalog's longest name has 151 characters.
MAX_QUERY_CHARS = 256
#: Largest page a client may ask for.
MAX_K = 100
#: Longest UBI `client_id` / `session_id`, in characters (as an event's text fields).
MAX_ID_CHARS = 512


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = DEFAULT_K
    context: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False
    #: UBI's `client_id` (who searches: the unit the Q2E memory caps) and `session_id` (which
    #: searches belong together: a reformulation is the next search of the same session).
    #: None: an anonymous client, and a search that is a session of its own.
    client_id: str | None = None
    session_id: str | None = None
