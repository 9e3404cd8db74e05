"""The text each entity is embedded with (the semantic arm's view of the catalog).

Not the `description`: that full sentence serves BM25 and the page, but embedding it cost
~32 tokens per entity (song counts, years, album names, "in the catalog", every subgenre a
track was ever filed under). MiniLM's cost grows with the tokens it reads, so this text keeps
only what a meaning-based query can match — the name, the artist, the entity type, a few
genre/subgenre tags and the moods — at ~20 tokens with MiniLM's two markers: the catalog
embeds ~3× faster (benchmarks/embedding.py), and the lexical arms still see every word of
the description.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from es_ltrr.catalog.entities import artist_id, top_titles

#: Genre/subgenre tags kept per entity (a track can carry nine from its playlists; the
#: first, most frequent ones say what it is) and moods kept.
MAX_TAGS = 3
MAX_MOODS = 2
#: Titles an artist is "known for" (by popularity, versions folded to one title).
KNOWN_FOR = 2

_TYPE_WORDS = {"album": "album", "artist": "artist", "playlist": "playlist", "genre": "music genre",
               "subgenre": "subgenre"}


def tags(doc: dict[str, Any]) -> list[str]:
    """Subgenres first, then genres no subgenre already names ("pop" in "dance pop"), then moods.

    >>> tags({"genres": ["pop", "rap"], "subgenres": ["dance pop"], "moods": ["happy"]})
    ['dance pop', 'rap', 'happy']
    """
    subgenres = list(doc.get("subgenres") or [])
    genres = [g for g in doc.get("genres") or [] if not any(f" {g} " in f" {s} " for s in subgenres)]
    return list(dict.fromkeys(subgenres + genres))[:MAX_TAGS] + list(doc.get("moods") or [])[:MAX_MOODS]


def embedding_text(doc: dict[str, Any], known_for: list[str] | None = None) -> str:
    """One entity's embedded text: "<name> by <artist>" / "<name>, <type>", known-for titles, tags.

    >>> embedding_text({"type": "track", "name": "Sixteen", "artist": "Ellie Goulding",
    ...                 "genres": ["pop"], "subgenres": ["dance pop"], "moods": ["happy"]})
    'Sixteen by Ellie Goulding. dance pop, happy'
    >>> embedding_text({"type": "artist", "name": "The Police", "genres": ["rock"]}, ["Roxanne"])
    'The Police, artist. Known for Roxanne. rock'
    """
    kind, name = doc.get("type"), doc["name"]
    if kind == "track":
        head = f"{name} by {doc['artist']}" if doc.get("artist") else name
    elif kind == "album" and doc.get("artist"):
        head = f"{name}, album by {doc['artist']}"
    elif kind in _TYPE_WORDS:
        head = f"{name}, {_TYPE_WORDS[kind]}"
    else:  # another catalog's entity: its own description says what it is
        return doc.get("description") or name
    if known_for:
        head += f". Known for {', '.join(known_for)}"
    labels = tags(doc)
    return f"{head}. {', '.join(labels)}" if labels else head


def embedding_texts(entities: list[dict[str, Any]]) -> list[str]:
    """`embedding_text` of every entity, in order; artists get their tracks' top titles."""
    by_artist: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in entities:
        if doc.get("type") == "track" and doc.get("artist"):
            by_artist[artist_id(doc["artist"])].append(doc)
    return [embedding_text(d, top_titles(by_artist.get(d["id"], []), KNOWN_FOR) if d.get("type") == "artist" else None)
            for d in entities]
