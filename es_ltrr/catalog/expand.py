"""Grow (or shrink) a real catalog to N entities, for scale benchmarks — seeded, deterministic,
and without running the embedding model.

Smaller than the base catalog: a seeded sample, stratified by entity type (each type keeps its
share; every genre and subgenre entity is kept). Larger: the base catalog plus entities
derived from real ones, in the base catalog's type mix (tracks ~46 %, albums ~36 %, artists
~17 %, playlists ~1 %):

* **tracks** — versions of a real track ("<core title> - Remix / Live / Acoustic …", same
  artist, features shifted the way such versions sound: an acoustic version is more acoustic
  and less energetic), covers by another real artist of the same genre, and new songs by a
  real artist with titles drawn from the words of real titles of that genre;
* **albums** — editions of a real album ("… (Deluxe Edition)") and new albums by real artists
  (titles from the genre's title words);
* **artists** — collaborations ("A & B") and names recombined from two real artists of a genre;
* **playlists** — sequels of real playlists ("… Vol. 2", "… Essentials").

Popularity is drawn from the real distribution of the entity's type (the long tail stays a
long tail; a version or cover is never more popular than its source), audio features are
jittered within their real ranges, genres/subgenres/moods come from the source, and
descriptions and cold-start queries are built by the same code as for real entities.

Vectors are derived, never embedded: a derived entity's vector is the unit-normalized mix of
its sources' cached vectors (a version: its track; a cover: the track and the covering
artist; a new song: its artist and a song of the genre) plus Gaussian noise of norm
:data:`NOISE`. Embedding a million texts would take ~30 min on 2 cores; the kNN arm's cost
depends on the number of vectors, their dimension and the HNSW graph's shape, not on what
each vector means — and mixed-and-jittered real vectors keep the real clustering (genres,
artists) that shapes the graph, where uniform random vectors would not.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from es_ltrr.catalog.entities import AUDIO_FEATURES, artist_id, describe, slug
from es_ltrr.catalog.moods import moods_for
from es_ltrr.catalog.names import core_title
from es_ltrr.catalog.queries import attach_predicted_queries

#: Bump when the derivation changes: cached scale builds are keyed by it.
EXPANSION_VERSION = 1
#: Norm of the noise added to a derived vector before normalizing (cos to a single source ≈ 0.97).
NOISE = 0.25
#: Types kept whole in a sample and never derived (a catalog has few genres, whatever its size).
FIXED_TYPES = ("genre", "subgenre")
DERIVED_TYPES = ("track", "album", "artist", "playlist")

TRACK_VERSIONS = ("Remix", "Live", "Acoustic", "Radio Edit", "Extended Mix", "Remastered", "Instrumental",
                  "Demo", "Slowed", "Club Mix")
ALBUM_EDITIONS = ("Deluxe Edition", "Live", "Remastered", "Expanded Edition", "Acoustic Sessions", "Remixes")
PLAYLIST_SEQUELS = ("Vol. 2", "Vol. 3", "Essentials", "Mix", "Radio", "Throwbacks", "2020")
#: Feature shifts of a version, on top of the jitter (how such versions sound).
_VERSION_SHIFT: dict[str, dict[str, float]] = {
    "Acoustic": {"acousticness": 0.4, "energy": -0.3, "danceability": -0.1},
    "Live": {"energy": 0.05, "acousticness": 0.05},
    "Instrumental": {"instrumentalness": 0.7},
    "Slowed": {"energy": -0.15, "valence": -0.1},
    "Club Mix": {"danceability": 0.1, "energy": 0.1},
    "Extended Mix": {"danceability": 0.05},
}
_TRACK_FIELDS = ("artist", "album", "duration_ms", *AUDIO_FEATURES, "genres", "subgenres")
_AGGREGATE_FIELDS = ("artist", "track_count", "duration_ms", *AUDIO_FEATURES, "moods", "genres", "subgenres",
                     "release_date", "release_year")

Mix = tuple[int, float, int, float]  # two base rows and their weights


@dataclass
class Expansion:
    """The resized catalog: entities, their vectors row by row (None without vectors), and how
    many entities were derived (0 for a sample)."""

    entities: list[dict[str, Any]]
    vectors: np.ndarray | None
    derived: int


def expand(entities: Sequence[dict[str, Any]], vectors: np.ndarray | None, size: int, seed: int = 0,
           progress: Callable[[int], None] | None = None) -> Expansion:
    """`entities` (with `vectors`, row i ↔ entity i) resized to `size` entities (see the module).

    >>> base = [{"id": "genre:pop", "type": "genre", "name": "Pop"}] + [
    ...     {"id": f"t{i}", "type": "track", "name": f"Song {i}", "artist": "A", "popularity": 50.0,
    ...      "genres": ["pop"], "subgenres": ["dance pop"]} for i in range(9)]
    >>> [e["id"] for e in expand(base, None, 4, seed=1).entities][0]
    'genre:pop'
    >>> len(expand(base, None, 25, seed=1).entities)
    25
    """
    if size < 1:
        raise ValueError(f"a catalog needs at least 1 entity, got {size}")
    if vectors is not None and len(vectors) != len(entities):
        raise ValueError(f"{len(vectors)} vectors for {len(entities)} entities")
    if size <= len(entities):
        keep = _sample_rows(entities, size, random.Random(seed))
        if progress:
            progress(size)
        return Expansion([entities[i] for i in keep], None if vectors is None else vectors[keep], 0)
    return _Grower(entities, seed).grow(vectors, size, progress)


def _sample_rows(entities: Sequence[dict[str, Any]], size: int, rng: random.Random) -> list[int]:
    """Row numbers of a stratified sample (in catalog order): fixed types whole when they fit,
    each other type in proportion to its count."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(entities):
        by_type[e.get("type", "")].append(i)
    fixed = [i for t in FIXED_TYPES for i in by_type.pop(t, [])]
    if len(fixed) >= size:
        return sorted(rng.sample(fixed, size))
    rest = size - len(fixed)
    n_rest = sum(len(rows) for rows in by_type.values())
    quota = {t: rest * len(rows) // n_rest for t, rows in by_type.items()}
    for t in sorted(by_type, key=lambda t: -len(by_type[t]))[: rest - sum(quota.values())]:
        quota[t] += 1  # the remainder to the largest types
    keep = fixed + [i for t, rows in sorted(by_type.items()) for i in rng.sample(rows, quota[t])]
    return sorted(keep)


def unit_mix(vectors: np.ndarray, mixes: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """Rows `normalize(w1·v[r1] + w2·v[r2] + noise)` for mixes (r1, w1, r2, w2), float32 unit vectors."""
    r1, r2 = mixes[:, 0].astype(np.int64), mixes[:, 2].astype(np.int64)
    out = vectors[r1] * mixes[:, 1:2].astype(np.float32) + vectors[r2] * mixes[:, 3:4].astype(np.float32)
    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(noise / np.sqrt(out.shape[1]))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32, copy=False)


class _Grower:
    """Derives entities from a base catalog (see the module docstring); one `random.Random(seed)`."""

    def __init__(self, entities: Sequence[dict[str, Any]], seed: int):
        self.base = list(entities)
        self.seed = seed
        self.rng = random.Random(seed)
        rows: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(self.base):
            rows[e.get("type", "")].append(i)
        self.rows = rows
        self.types = [t for t in DERIVED_TYPES if rows[t]]
        self.weights = [len(rows[t]) for t in self.types]
        if not self.types:
            raise ValueError("cannot grow a catalog without tracks, albums, artists or playlists")
        self.popularity = {t: [float(self.base[i].get("popularity") or 0.0) for i in rows[t]] for t in self.types}
        self.artist_row = {e["id"]: i for i, e in enumerate(self.base) if e.get("type") == "artist"}
        self.tracks_by_genre: dict[str, list[int]] = defaultdict(list)
        self.artists_by_genre: dict[str, list[int]] = defaultdict(list)
        self.title_words: dict[str, list[str]] = defaultdict(list)
        for i in rows["track"]:
            genre = self._genre(self.base[i])
            self.tracks_by_genre[genre].append(i)
            self.title_words[genre].extend(w for w in core_title(self.base[i]["name"]).split() if w.isalpha())
        for i in rows["artist"]:
            self.artists_by_genre[self._genre(self.base[i])].append(i)
        self.taken = {e["id"] for e in self.base}
        dates = [e["release_date"] for e in self.base if e.get("release_date")]
        self.latest = max(dates) if dates else "2020-01-01"

    @staticmethod
    def _genre(doc: dict[str, Any]) -> str:
        return (doc.get("genres") or [""])[0]

    def grow(self, vectors: np.ndarray | None, size: int, progress: Callable[[int], None] | None) -> Expansion:
        n_new = size - len(self.base)
        out = list(self.base)
        mixes = np.empty((n_new, 4), np.float64)
        if progress:
            progress(len(self.base))
        for k in range(n_new):
            kind = self.rng.choices(self.types, self.weights)[0]
            doc, mix = getattr(self, f"_{kind}")(len(self.base) + k)
            doc["description"] = describe(doc)
            attach_predicted_queries(doc)
            out.append(doc)
            mixes[k] = mix
            if progress and (k + 1) % 1000 == 0:
                progress(1000)
        if progress:
            progress(n_new % 1000)
        grown = None
        if vectors is not None:
            grown = np.empty((size, vectors.shape[1]), np.float32)
            grown[: len(self.base)] = vectors
            noise = np.random.default_rng(self.seed)
            for start in range(0, n_new, 65536):
                chunk = mixes[start : start + 65536]
                grown[len(self.base) + start : len(self.base) + start + len(chunk)] = unit_mix(vectors, chunk, noise)
        return Expansion(out, grown, n_new)

    # -- one derived entity per type: (document, vector mix) ----------------------------------

    def _track(self, n: int) -> tuple[dict[str, Any], Mix]:
        src_row = self.rng.choice(self.rows["track"])
        src = self.base[src_row]
        doc = self._copy(src, _TRACK_FIELDS, f"scale-{n:07d}", "track")
        title = core_title(src["name"]) or src["name"]
        roll = self.rng.random()
        artist_row = self.artist_row.get(artist_id(src.get("artist", "")), src_row)
        if roll < 0.4:  # a version of the track
            version = self.rng.choice(TRACK_VERSIONS)
            doc["name"] = f"{title} - {version}"
            doc["album"] = f"{title} ({version})"
            shift = _VERSION_SHIFT.get(version, {})
            mix: Mix = (src_row, 1.0, src_row, 0.0)
        elif roll < 0.7:  # a cover by another artist of the genre
            cover_row = self._artist_of(self._genre(src), artist_row)
            doc["name"], doc["artist"] = title, self.base[cover_row]["name"]
            doc["album"] = f"{title} (Cover)"
            shift, mix = {}, (src_row, 0.6, cover_row, 0.4)
        else:  # a new song by the artist, titled with words of the genre's titles
            doc["name"] = self._title(self._genre(src))
            song_row = self.rng.choice(self.tracks_by_genre[self._genre(src)])
            shift, mix = {}, (artist_row, 0.5, song_row, 0.5)
        doc["popularity"] = min(self._popularity("track"), float(src.get("popularity") or 0.0) if roll < 0.7 else 100.0)
        self._jitter(doc, shift)
        features = {f: doc[f] for f in AUDIO_FEATURES if f in doc}
        if len(features) == len(AUDIO_FEATURES):  # another catalog's track may lack them: keep its moods
            doc["moods"] = moods_for(features)
        self._date(doc, src, years=(0, 3) if roll < 0.7 else (-5, 1))
        doc["duration_ms"] = int(doc.get("duration_ms", 200_000) * self.rng.uniform(0.85, 1.25))
        return doc, mix

    def _album(self, n: int) -> tuple[dict[str, Any], Mix]:
        src_row = self.rng.choice(self.rows["album"])
        src = self.base[src_row]
        doc = self._copy(src, _AGGREGATE_FIELDS, f"album:scale-{n:07d}", "album")
        if self.rng.random() < 0.5:  # another edition of the album
            doc["name"] = f"{src['name']} ({self.rng.choice(ALBUM_EDITIONS)})"
            mix: Mix = (src_row, 1.0, src_row, 0.0)
        else:  # a new album by the artist
            doc["name"] = self._title(self._genre(src))
            artist_row = self.artist_row.get(artist_id(src.get("artist", "")), src_row)
            mix = (artist_row, 0.6, src_row, 0.4)
        doc["popularity"] = self._popularity("album")
        doc["track_count"] = self.rng.choice((1, 1, 1, 2, 4, 8, 10, 12, 14))
        self._jitter(doc, {})
        self._date(doc, src, years=(-3, 3))
        return doc, mix

    def _artist(self, n: int) -> tuple[dict[str, Any], Mix]:
        a_row = self.rng.choice(self.rows["artist"])
        b_row = self._artist_of(self._genre(self.base[a_row]), a_row)
        a, b = self.base[a_row]["name"], self.base[b_row]["name"]
        doc = self._copy(self.base[a_row], _AGGREGATE_FIELDS, "", "artist")
        name = self._artist_name(a, b)
        doc.update(id=artist_id(name), name=name, artist=name, popularity=self._popularity("artist"))
        self.taken.add(doc["id"])
        self._jitter(doc, {})
        return doc, (a_row, 0.5, b_row, 0.5)

    def _playlist(self, n: int) -> tuple[dict[str, Any], Mix]:
        src_row = self.rng.choice(self.rows["playlist"])
        src = self.base[src_row]
        doc = self._copy(src, _AGGREGATE_FIELDS, f"playlist:scale-{n:07d}", "playlist")
        doc["name"] = f"{src['name']} {self.rng.choice(PLAYLIST_SEQUELS)}"
        doc["popularity"] = self._popularity("playlist")
        self._jitter(doc, {})
        return doc, (src_row, 1.0, src_row, 0.0)

    # -- helpers -------------------------------------------------------------------------------

    def _copy(self, src: dict[str, Any], fields: tuple[str, ...], new_id: str, kind: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": new_id, "type": kind, "name": src["name"]}
        for f in fields:
            if f in src:
                doc[f] = list(src[f]) if isinstance(src[f], list) else src[f]
        return doc

    def _artist_of(self, genre: str, not_row: int) -> int:
        """Another real artist of `genre` (any artist when the genre has one or none)."""
        pool = self.artists_by_genre.get(genre) or self.rows["artist"] or [not_row]
        for _ in range(4):
            row = self.rng.choice(pool)
            if row != not_row:
                return row
        return row

    def _artist_name(self, a: str, b: str) -> str:
        """"A & B", "A x B" or A's first word + B's last word; unique by id."""
        first, last = a.split()[0], b.split()[-1]
        candidates = [f"{first} {last}" if first != last else f"{a} & {b}", f"{a} & {b}", f"{a} x {b}"]
        if self.rng.random() < 0.5:
            candidates[0], candidates[1] = candidates[1], candidates[0]
        for name in candidates:
            if artist_id(name) not in self.taken and slug(name):
                return name
        k = 2
        while artist_id(f"{candidates[0]} {k}") in self.taken:
            k += 1
        return f"{candidates[0]} {k}"

    def _title(self, genre: str) -> str:
        words = self.title_words.get(genre) or ["Song"]
        return " ".join(self.rng.choice(words).capitalize() for _ in range(self.rng.choice((1, 2, 2, 3))))

    def _popularity(self, kind: str) -> float:
        return self.rng.choice(self.popularity[kind])

    def _jitter(self, doc: dict[str, Any], shift: dict[str, float]) -> None:
        """Audio features ± noise (+ a version's shift), kept in their real ranges."""
        for f in AUDIO_FEATURES:
            if f not in doc:
                continue
            if f == "tempo":
                doc[f] = round(min(240.0, max(40.0, doc[f] * self.rng.gauss(1.0, 0.03))), 3)
            else:
                doc[f] = round(min(1.0, max(0.0, doc[f] + shift.get(f, 0.0) + self.rng.gauss(0.0, 0.05))), 4)

    def _date(self, doc: dict[str, Any], src: dict[str, Any], years: tuple[int, int]) -> None:
        """The source's release date moved by whole days within `years`, never after the catalog's latest."""
        if not src.get("release_date"):
            return
        base = dt.date.fromisoformat(src["release_date"])
        moved = base + dt.timedelta(days=self.rng.randint(365 * years[0], 365 * years[1]))
        date = min(moved.isoformat(), self.latest)
        doc["release_date"], doc["release_year"] = date, int(date[:4])


def type_counts(entities: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Entities per type (reports)."""
    return dict(Counter(e.get("type", "") for e in entities))
