"""Catalog entities from merged tracks: each track's document and the aggregates over them
(artist, album, playlist, genre, subgenre), with descriptions and predicted queries.

Aggregates take the max (artist, album) or mean (playlist, genre, subgenre) popularity of
their tracks, the latest release date, the mean duration and audio features, the genres,
subgenres and moods held by ≥ 30 % of their tracks (at least one), and a one-sentence
description. Source-specific readers (`spotify.py`) only merge rows into `MergedTrack`s.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from es_ltrr.catalog.moods import AGGREGATE_SHARE, aggregate_moods
from es_ltrr.catalog.names import core_title
from es_ltrr.catalog.queries import attach_predicted_queries
from es_ltrr.common.analysis import fold

AUDIO_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "valence", "acousticness", "tempo", "instrumentalness"
)

#: Display names of the six Spotify genre keywords (the keyword stays in `genres`).
GENRE_NAMES: dict[str, str] = {
    "edm": "EDM",
    "latin": "Latin",
    "pop": "Pop",
    "r&b": "R&B",
    "rap": "Rap",
    "rock": "Rock",
}

def ranked(counter: Counter[str]) -> list[str]:
    """Keys by count (desc), first-seen order on ties."""
    return sorted(counter, key=lambda k: -counter[k])



def slug(name: str) -> str:
    """Folded runs of word characters joined by "-"; names without any get a stable hash slug.

    Ids must not change when the search tokenizer does, so this does not use
    `analysis.words` (which keeps "who's" and emoji as tokens).

    >>> slug("Beyoncé"), slug("Tyler, The Creator"), slug("!!!"), slug("Who's P.O.D. 🔥")
    ('beyonce', 'tyler-the-creator', 'x-9a7b006d', 'who-s-p-o-d')
    """
    tokens = _SLUG_RUN.findall(fold(name))
    if tokens:
        return "-".join(tokens)
    return "x-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


_SLUG_RUN = re.compile(r"\w+")


def artist_id(name: str) -> str:
    """The id of the artist entity a track's `artist` name belongs to."""
    return f"artist:{slug(name)}"


def top_titles(tracks: list[dict[str, Any]], n: int) -> list[str]:
    """The `n` most popular distinct core titles among `tracks` (versions fold to one title)."""
    by_popularity = sorted(tracks, key=lambda t: -t["popularity"])
    return list(dict.fromkeys(core_title(t["name"]) for t in by_popularity))[:n]


class MergedTrack:
    """A track being merged from its rows."""

    __slots__ = ("doc", "genres", "subgenres", "playlists")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.genres: Counter[str] = Counter()
        self.subgenres: Counter[str] = Counter()
        self.playlists: dict[str, None] = {}



def _aggregate(
    doc: dict[str, Any], members: list[dict[str, Any]], popularity: str
) -> dict[str, Any]:
    """Fill the aggregate fields of `doc` from its member tracks."""
    pops = [m["popularity"] for m in members]
    doc["popularity"] = round(max(pops) if popularity == "max" else sum(pops) / len(pops), 2)
    dates = [m["release_date"] for m in members if "release_date" in m]
    if dates:
        doc["release_date"] = max(dates)
        doc["release_year"] = int(doc["release_date"][:4])
    doc["track_count"] = len(members)
    doc["duration_ms"] = int(round(sum(m["duration_ms"] for m in members) / len(members)))
    for name in AUDIO_FEATURES:
        doc[name] = round(sum(m[name] for m in members) / len(members), 4)
    doc["moods"] = aggregate_moods(m["moods"] for m in members)
    # like moods: an artist who appears once in a "neo soul" playlist is not a neo soul
    # artist, so aggregates keep the tags of ≥ AGGREGATE_SHARE of their tracks (≥ 1 tag)
    if "genres" not in doc:
        doc["genres"] = _dominant(Counter(g for m in members for g in m["genres"]), len(members))
    if "subgenres" not in doc:
        doc["subgenres"] = _dominant(Counter(s for m in members for s in m["subgenres"]), len(members))
    return doc


def _dominant(counter: Counter[str], n_members: int) -> list[str]:
    by_count = ranked(counter)
    kept = [tag for tag in by_count if counter[tag] >= AGGREGATE_SHARE * n_members]
    return kept or by_count[:1]


def _labels(doc: dict[str, Any]) -> str:
    parts = []
    tags = list(doc.get("genres", [])) + list(doc.get("subgenres", []))
    if tags:
        parts.append(", ".join(dict.fromkeys(tags)) + ".")
    if doc.get("moods"):
        parts.append(", ".join(doc["moods"]) + ".")
    return (" " + " ".join(parts)) if parts else ""


def _year(doc: dict[str, Any]) -> str:
    return f" ({doc['release_year']})" if "release_year" in doc else ""


def describe(doc: dict[str, Any], top_titles: list[str] | None = None) -> str:
    """One readable sentence about an entity (for embeddings and lexical fallback)."""
    kind, name = doc["type"], doc["name"]
    n = doc.get("track_count", 0)
    songs = f"{n} song{'s' if n != 1 else ''}"
    if kind == "track":
        head = f"{name} — song by {doc['artist']}"
        if doc.get("album"):
            head += f" from the album {doc['album']}"
        head += _year(doc) + "."
    elif kind == "artist":
        head = f"{name} — artist with {songs} in the catalog."
        if top_titles:
            head += f" Known for {', '.join(top_titles)}."
    elif kind == "album":
        head = f"{name} — album by {doc.get('artist', 'various artists')}{_year(doc)}, {songs}."
    elif kind == "playlist":
        head = f"{name} — playlist of {songs}."
    elif kind == "genre":
        head = f"{name} — music genre with {songs}."
    else:
        parent = "/".join(doc.get("genres", []))
        head = f"{name} — {parent + ' ' if parent else ''}subgenre with {songs}."
    return head + _labels(doc)


def build_entities(
    tracks: dict[str, MergedTrack],
    playlists: dict[str, dict[str, Any]],
    pairs: Counter[tuple[str, str]],
) -> list[dict[str, Any]]:
    """Track docs and the aggregates over them, in type order, with predicted queries."""
    track_docs: list[dict[str, Any]] = []
    by_artist: dict[str, list[dict[str, Any]]] = {}
    artist_names: dict[str, Counter[str]] = {}
    by_album: dict[str, list[dict[str, Any]]] = {}
    by_playlist: dict[str, list[dict[str, Any]]] = {pid: [] for pid in playlists}
    by_genre: dict[str, list[dict[str, Any]]] = {}
    by_subgenre: dict[str, list[dict[str, Any]]] = {}
    for track in tracks.values():
        doc = track.doc
        album_id = doc.pop("_album_id")
        doc["genres"] = ranked(track.genres)
        doc["subgenres"] = ranked(track.subgenres)
        doc["description"] = describe(doc)
        track_docs.append(doc)
        key = slug(doc["artist"])
        by_artist.setdefault(key, []).append(doc)
        artist_names.setdefault(key, Counter())[doc["artist"]] += 1
        if album_id:
            by_album.setdefault(album_id, []).append(doc)
        for pid in track.playlists:
            by_playlist[pid].append(doc)
        for g in doc["genres"]:
            by_genre.setdefault(g, []).append(doc)
        for s in doc["subgenres"]:
            by_subgenre.setdefault(s, []).append(doc)

    artists = []
    for key, members in by_artist.items():
        name = ranked(artist_names[key])[0]
        doc = {"id": artist_id(name), "type": "artist", "name": name, "artist": name}
        doc = _aggregate(doc, members, "max")
        doc["description"] = describe(doc, top_titles(members, 3))
        artists.append(doc)

    albums = []
    for album_id, members in by_album.items():
        first = members[0]
        name = first.get("album") or first["name"]
        artist = ranked(Counter(m["artist"] for m in members))[0]
        doc = {"id": f"album:{album_id}", "type": "album", "name": name, "artist": artist}
        doc = _aggregate(doc, members, "max")
        doc["description"] = describe(doc)
        albums.append(doc)

    playlist_docs = []
    for pid, members in by_playlist.items():
        if not members:
            continue
        pl = playlists[pid]
        doc = {
            "id": f"playlist:{pid}",
            "type": "playlist",
            "name": pl["name"],
            "genres": ranked(pl["genres"]),
            "subgenres": ranked(pl["subgenres"]),
        }
        doc = _aggregate(doc, members, "mean")
        doc["description"] = describe(doc)
        playlist_docs.append(doc)

    genres = [
        _tag_entity("genre", g, GENRE_NAMES.get(g, g.title()), [g],
                    ranked(Counter({s: n for (pg, s), n in pairs.items() if pg == g})), members)
        for g, members in by_genre.items()
    ]
    subgenres = [
        _tag_entity("subgenre", s, s, ranked(Counter({g: n for (g, ps), n in pairs.items() if ps == s})), [s], members)
        for s, members in by_subgenre.items()
    ]

    entities = track_docs + artists + albums + playlist_docs + genres + subgenres
    for doc in entities:
        attach_predicted_queries(doc)
    return entities


def _tag_entity(kind: str, tag: str, name: str, genres: list[str], subgenres: list[str],
                members: list[dict[str, Any]]) -> dict[str, Any]:
    """A genre or subgenre entity: the mean over the tracks of playlists carrying the tag."""
    doc = {"id": f"{kind}:{slug(tag)}", "type": kind, "name": name, "genres": genres, "subgenres": subgenres}
    doc = _aggregate(doc, members, "mean")
    doc["description"] = describe(doc)
    return doc
