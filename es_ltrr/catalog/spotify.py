"""The Spotify songs catalog (TidyTuesday 2020-01-21) → entity documents.

One CSV row is one (track, playlist) pair; a track appears once per playlist holding it.
Rows are merged per `track_id` and six entity types are built (see `docs/catalog.md`):

======== ============================== ==============================================
type     id                             built from
======== ============================== ==============================================
track    `<spotify track id>` (bare)    the merged rows of one track_id
artist   `artist:<slug of folded name>` tracks whose artist name folds to the same slug
album    `album:<spotify album id>`     tracks sharing track_album_id
playlist `playlist:<playlist id>`       rows sharing playlist_id
genre    `genre:<slug>`                 rows with that playlist_genre
subgenre `subgenre:<slug>`              rows with that playlist_subgenre
======== ============================== ==============================================

Aggregates take the max (artist, album) or mean (playlist, genre, subgenre) popularity of
their tracks, the latest release date, the mean duration and audio features, the union of
genres/subgenres (most frequent first) and the moods held by ≥ 30 % of their tracks.

Rows whose track name or artist is empty (or R's missing value "NA", which this CSV uses)
are skipped and counted in :class:`LoadStats`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm import tqdm

from es_ltrr.analysis import words
from es_ltrr.catalog.moods import AGGREGATE_SHARE, aggregate_moods, moods_for
from es_ltrr.catalog.queries import attach_predicted_queries, core_title

logger = logging.getLogger(__name__)

#: The repository root (the directory holding `es_ltrr/`).
from es_ltrr.config import DEFAULT_CATALOG  # noqa: E402  (one definition of the default path)

#: Columns a CSV must have to be read as a Spotify catalog.
SPOTIFY_COLUMNS: frozenset[str] = frozenset(
    {
        "track_id",
        "track_name",
        "track_artist",
        "track_popularity",
        "track_album_id",
        "track_album_name",
        "track_album_release_date",
        "playlist_name",
        "playlist_id",
        "playlist_genre",
        "playlist_subgenre",
        "danceability",
        "energy",
        "valence",
        "acousticness",
        "tempo",
        "duration_ms",
    }
)

AUDIO_FEATURES: tuple[str, ...] = ("danceability", "energy", "valence", "acousticness", "tempo")
ENTITY_TYPES: tuple[str, ...] = ("track", "artist", "album", "playlist", "genre", "subgenre")

#: Display names of the six Spotify genre keywords (the keyword stays in `genres`).
GENRE_NAMES: dict[str, str] = {
    "edm": "EDM",
    "latin": "Latin",
    "pop": "Pop",
    "r&b": "R&B",
    "rap": "Rap",
    "rock": "Rock",
}

_MISSING = {"", "NA"}
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


@dataclass
class LoadStats:
    """What a load did: rows read and skipped, entities built per type, seconds taken."""

    path: str = ""
    rows: int = 0
    skipped_empty: int = 0
    skipped_malformed: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        counts = ", ".join(f"{n} {t}s" for t, n in self.entities.items())
        return (
            f"{self.path}: {self.rows} rows ({self.skipped_empty} skipped with an empty "
            f"track name/artist, {self.skipped_malformed} malformed) → {counts} "
            f"in {self.seconds:.1f} s"
        )


@dataclass
class SpotifyCatalog:
    """The entities of one load and its statistics."""

    entities: list[dict[str, Any]]
    stats: LoadStats


def slug(name: str) -> str:
    """Folded words joined by "-"; names without any word get a stable hash slug.

    >>> slug("Beyoncé"), slug("Tyler, The Creator"), slug("!!!")
    ('beyonce', 'tyler-the-creator', 'x-9a7b006d')
    """
    tokens = words(name)
    if tokens:
        return "-".join(tokens)
    return "x-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def normalize_date(value: str) -> str | None:
    """"YYYY", "YYYY-MM" or "YYYY-MM-DD" → "YYYY-MM-DD" (first day); else None.

    >>> normalize_date("2019"), normalize_date("2019-06"), normalize_date("2019-06-14")
    ('2019-01-01', '2019-06-01', '2019-06-14')
    >>> normalize_date("June 2019") is None
    True
    """
    m = _DATE.match(value.strip())
    if not m:
        return None
    year, month, day = m.group(1), m.group(2) or "01", m.group(3) or "01"
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    return f"{year}-{month}-{day}"


def _missing(value: str | None) -> bool:
    return value is None or value.strip() in _MISSING


def _ranked(counter: Counter[str]) -> list[str]:
    """Keys by count (desc), first-seen order on ties."""
    return sorted(counter, key=lambda k: -counter[k])


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "rt", encoding="utf-8", newline="")


def read_header(path: Path) -> list[str]:
    """The column names of a (gzipped) CSV file."""
    with _open_text(path) as fh:
        return next(csv.reader(fh), [])


class _Track:
    """A track being merged from its rows."""

    __slots__ = ("doc", "genres", "subgenres", "playlists")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.genres: Counter[str] = Counter()
        self.subgenres: Counter[str] = Counter()
        self.playlists: dict[str, None] = {}


def _track_doc(row: dict[str, str]) -> dict[str, Any]:
    """The per-track fields of one row (ValueError on a malformed number)."""
    features = {name: float(row[name]) for name in AUDIO_FEATURES}
    bad = [name for name, value in features.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"non-finite {bad[0]}")
    doc: dict[str, Any] = {
        "id": row["track_id"].strip(),
        "type": "track",
        "name": row["track_name"].strip(),
        "artist": row["track_artist"].strip(),
        "popularity": float(row["track_popularity"] or 0),
        "duration_ms": int(float(row["duration_ms"])),
        **features,
        "moods": moods_for(features),
    }
    album = row["track_album_name"]
    if not _missing(album):
        doc["album"] = album.strip()
    date = normalize_date(row["track_album_release_date"] or "")
    if date:
        doc["release_date"] = date
        doc["release_year"] = int(date[:4])
    if not doc["id"]:
        raise ValueError("empty track_id")
    return doc


def _read_rows(
    rows: Iterable[dict[str, str]], stats: LoadStats, source: str
) -> tuple[dict[str, _Track], dict[str, dict[str, Any]], Counter[tuple[str, str]]]:
    """Merge rows into tracks and playlists; count (genre, subgenre) pairs."""
    tracks: dict[str, _Track] = {}
    playlists: dict[str, dict[str, Any]] = {}
    pairs: Counter[tuple[str, str]] = Counter()
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        stats.rows += 1
        if _missing(row.get("track_name")) or _missing(row.get("track_artist")):
            stats.skipped_empty += 1
            continue
        tid = (row.get("track_id") or "").strip()
        track = tracks.get(tid)
        if track is None:
            try:
                doc = _track_doc(row)
            except (ValueError, TypeError, KeyError) as exc:
                stats.skipped_malformed += 1
                if stats.skipped_malformed <= 5:
                    logger.warning("%s line %d: skipped malformed row (%s)", source, line, exc)
                continue
            doc["_album_id"] = (row.get("track_album_id") or "").strip()
            track = tracks[tid] = _Track(doc)
        genre = (row.get("playlist_genre") or "").strip()
        subgenre = (row.get("playlist_subgenre") or "").strip()
        if genre:
            track.genres[genre] += 1
        if subgenre:
            track.subgenres[subgenre] += 1
        if genre and subgenre:
            pairs[genre, subgenre] += 1
        pid = (row.get("playlist_id") or "").strip()
        if pid:
            track.playlists[pid] = None
            pl = playlists.get(pid)
            if pl is None:
                name = (row.get("playlist_name") or "").strip() or pid
                pl = playlists[pid] = {"name": name, "genres": Counter(), "subgenres": Counter()}
            if genre:
                pl["genres"][genre] += 1
            if subgenre:
                pl["subgenres"][subgenre] += 1
    return tracks, playlists, pairs


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
    ranked = _ranked(counter)
    kept = [tag for tag in ranked if counter[tag] >= AGGREGATE_SHARE * n_members]
    return kept or ranked[:1]


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
    tracks: dict[str, _Track],
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
        doc["genres"] = _ranked(track.genres)
        doc["subgenres"] = _ranked(track.subgenres)
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

    def by_popularity(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(members, key=lambda m: -m["popularity"])

    artists = []
    for key, members in by_artist.items():
        name = _ranked(artist_names[key])[0]
        doc = {"id": f"artist:{key}", "type": "artist", "name": name, "artist": name}
        doc = _aggregate(doc, members, "max")
        top = list(dict.fromkeys(core_title(m["name"]) for m in by_popularity(members)))[:3]
        doc["description"] = describe(doc, top)
        artists.append(doc)

    albums = []
    for album_id, members in by_album.items():
        first = members[0]
        name = first.get("album") or first["name"]
        artist = _ranked(Counter(m["artist"] for m in members))[0]
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
            "genres": _ranked(pl["genres"]),
            "subgenres": _ranked(pl["subgenres"]),
        }
        doc = _aggregate(doc, members, "mean")
        doc["description"] = describe(doc)
        playlist_docs.append(doc)

    genres = []
    for g, members in by_genre.items():
        doc = {
            "id": f"genre:{slug(g)}",
            "type": "genre",
            "name": GENRE_NAMES.get(g, g.title()),
            "genres": [g],
            "subgenres": _ranked(Counter({s: n for (pg, s), n in pairs.items() if pg == g})),
        }
        doc = _aggregate(doc, members, "mean")
        doc["description"] = describe(doc)
        genres.append(doc)

    subgenres = []
    for s, members in by_subgenre.items():
        doc = {
            "id": f"subgenre:{slug(s)}",
            "type": "subgenre",
            "name": s,
            "genres": _ranked(Counter({g: n for (g, ps), n in pairs.items() if ps == s})),
            "subgenres": [s],
        }
        doc = _aggregate(doc, members, "mean")
        doc["description"] = describe(doc)
        subgenres.append(doc)

    entities = track_docs + artists + albums + playlist_docs + genres + subgenres
    for doc in entities:
        attach_predicted_queries(doc)
    return entities


def _progress_rows(fh: io.TextIOBase, progress: bool, source: str) -> Iterator[dict[str, str]]:
    reader = csv.DictReader(fh)
    missing = SPOTIFY_COLUMNS - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{source}: not a Spotify catalog CSV, missing columns {sorted(missing)}")
    bar = tqdm(reader, desc="catalog rows", unit=" rows", disable=not progress, mininterval=0.5)
    return iter(bar)


def read_spotify(path: Path = DEFAULT_CATALOG, progress: bool = True) -> SpotifyCatalog:
    """Read a Spotify songs CSV (optionally gzipped): entities plus :class:`LoadStats`."""
    path = Path(path)
    start = time.perf_counter()
    stats = LoadStats(path=str(path))
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    with _open_text(path) as fh:
        rows = _progress_rows(fh, progress, str(path))
        tracks, playlists, pairs = _read_rows(rows, stats, str(path))
    entities = build_entities(tracks, playlists, pairs)
    counts = Counter(e["type"] for e in entities)
    stats.entities = {t: counts.get(t, 0) for t in ENTITY_TYPES}
    stats.seconds = time.perf_counter() - start
    return SpotifyCatalog(entities, stats)


def load_spotify(path: Path = DEFAULT_CATALOG, progress: bool = True) -> list[dict[str, Any]]:
    """Entities (track, artist, album, playlist, genre, subgenre) of a Spotify songs CSV.

    Logs a one-line summary (rows, skipped rows, entities per type, seconds); use
    :func:`read_spotify` to get those statistics as data.
    """
    catalog = read_spotify(path, progress)
    logger.info("%s", catalog.stats.summary())
    return catalog.entities
