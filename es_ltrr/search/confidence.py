"""How sure is a page? Evidence that the hits are what the query asked for, and a flag when
they are only guesses.

Two kinds of evidence count: the query understanding (an exact or confident slot — a mood,
genre, artist, title — means the structured arm retrieved what the words say) and literal
word overlap (the share of the query's content words found in a top hit's name, artist or
album). Fuzzy lookups, nearest neighbours and exploration always return *something*; none of
them counts as evidence on its own. `confidence` is the larger of the two in [0, 1] — an
evidence score, not a calibrated probability — and `no_match` is true below
:data:`NO_MATCH_BELOW`: "asdkjh qwpoeiru zxmnv" gets a page of guesses that says so.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..catalog.names import STOPWORDS
from ..common.analysis import words
from ..understanding import Understanding

#: Below this the page holds guesses, not matches.
NO_MATCH_BELOW = 0.5
#: Hits whose text is checked for the query's words (the top of the page decides).
EVIDENCE_HITS = 3
_TEXT_FIELDS = ("name", "artist", "album")


def word_evidence(tokens: Iterable[str], source: Mapping[str, Any]) -> float:
    """Share of the query's content words (stopwords aside) in the hit's name/artist/album.

    >>> word_evidence(["back", "in", "black"], {"name": "Back In Black", "artist": "AC/DC"})
    1.0
    >>> word_evidence(["asdkjh", "zxmnv"], {"name": "Ashanti"})
    0.0
    """
    tokens = list(tokens)
    content = [t for t in tokens if t not in STOPWORDS] or tokens
    if not content:
        return 0.0
    text = set()
    for field in _TEXT_FIELDS:
        if isinstance(source.get(field), str):
            text.update(words(source[field]))
    return sum(t in text for t in content) / len(content)


def page_confidence(u: Understanding, page: Iterable[Mapping[str, Any]]) -> tuple[float, bool]:
    """(confidence, no_match) of a page for the query `u` (see the module docstring)."""
    understood = u.intent_confidence if u.slots else 0.0
    top = list(page)[:EVIDENCE_HITS]
    evidence = max((word_evidence(u.tokens, source) for source in top), default=0.0)
    confidence = round(max(understood, evidence), 3)
    return confidence, confidence < NO_MATCH_BELOW or not top
