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


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = DEFAULT_K
    context: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False
