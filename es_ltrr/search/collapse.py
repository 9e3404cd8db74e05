"""One hit per work: versions of the same song or album collapse into one page entry.

The catalog holds one recording under several Spotify ids ("Bohemian Rhapsody - 2011 Mix"
three times), remasters and remixes of one song, and one album released twice ("Views").
Like Elasticsearch's field collapsing, the page keeps the best-scored entity of each work
and lists the others as its variants. A work is a track or album's core title (without
"- Remastered 2011", "(feat. X)", "- Remix") plus its artist, folded; other entity types
are their own work.
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Sequence

from ..catalog.names import core_title
from ..common.analysis import normalize_query
from ..retrieval.union import Candidate

COLLAPSED_TYPES = ("track", "album")


def work_key(candidate: Candidate) -> Hashable:
    """What makes two candidates the same work (see the module docstring)."""
    return source_work_key(candidate.id, candidate.source)


def source_work_key(entity_id: str, source: Mapping[str, Any]) -> Hashable:
    """The work of an entity given its id and source fields."""
    kind = source.get("type")
    if kind not in COLLAPSED_TYPES or not source.get("name"):
        return ("id", entity_id)
    return (kind, normalize_query(core_title(str(source["name"]))), normalize_query(str(source.get("artist") or "")))


def collapse(candidates: Sequence[Candidate], scores: Sequence[float], k: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """The page (candidate indices, best first, one per work, at most `k`) and each page
    entry's variants (indices of the same work's other candidates, best first).

    >>> c = [Candidate("a", {"type": "track", "name": "Song - 2011 Mix", "artist": "X"}),
    ...      Candidate("b", {"type": "track", "name": "Song", "artist": "X"}),
    ...      Candidate("c", {"type": "artist", "name": "X"})]
    >>> collapse(c, [0.9, 0.8, 0.7], 10)
    ((0, 2), ((1,), ()))
    """
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    page: list[int] = []
    variants: dict[int, list[int]] = {}
    first_of: dict[Hashable, int] = {}
    for i in order:
        key = work_key(candidates[i])
        if key in first_of:
            variants[first_of[key]].append(i)
        elif len(page) < k:
            first_of[key] = i
            page.append(i)
            variants[i] = []
    return tuple(page), tuple(tuple(variants[i]) for i in page)
