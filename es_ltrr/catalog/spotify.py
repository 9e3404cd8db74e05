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

This module reads and merges the rows; `entities.py` builds the aggregates from the merged
tracks (max or mean popularity, latest release, dominant genres and moods, descriptions).

Rows whose track name or artist is empty (or R's missing value "NA", which this CSV uses)
are skipped and counted in :class:`LoadStats`. A malformed row (a bad number, too few or too
many columns, bytes that are not UTF-8, a record the csv module cannot read) is skipped,
counted and reported by its line number (`LoadStats.malformed`); the good rows load.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from tqdm import tqdm

from es_ltrr.catalog.entities import AUDIO_FEATURES, MergedTrack, build_entities
from es_ltrr.catalog.moods import moods_for

logger = logging.getLogger(__name__)

#: The repository root (the directory holding `es_ltrr/`).
from es_ltrr.common.settings import DEFAULT_CATALOG  # noqa: E402  (one definition of the default path)

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
        "instrumentalness",
        "duration_ms",
    }
)

ENTITY_TYPES: tuple[str, ...] = ("track", "artist", "album", "playlist", "genre", "subgenre")

_MISSING = {"", "NA"}
#: Malformed rows reported one by one (the rest are counted in the summary).
MAX_REPORTED = 20
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


@dataclass
class LoadStats:
    """What a load did: rows read and skipped, entities built per type, seconds taken."""

    path: str = ""
    rows: int = 0
    skipped_empty: int = 0
    skipped_malformed: int = 0
    #: (line, reason) of the first `MAX_REPORTED` malformed rows (1 = the header line).
    malformed: list[tuple[int, str]] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def skip_malformed(self, source: str, line: int, reason: str) -> None:
        """Count a malformed row; keep and log the first `MAX_REPORTED` by line number."""
        self.skipped_malformed += 1
        if self.skipped_malformed <= MAX_REPORTED:
            self.malformed.append((line, reason))
            logger.warning("%s line %d: skipped malformed row (%s)", source, line, reason)

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


def _open_text(path: Path) -> io.TextIOBase:
    """The file as text; bytes that are not UTF-8 become lone surrogates (surrogateescape),
    so the row holding them is reported as malformed instead of ending the load."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape", newline="")
    return open(path, "rt", encoding="utf-8", errors="surrogateescape", newline="")


def write_head(path: Path | str, rows: int, source: Path | str = DEFAULT_CATALOG) -> Path:
    """The header and the next `rows` lines of the catalog CSV `source`, byte for byte, into
    `path` (gzipped when it ends in .gz): the fixed slice tests and benchmarks run on. The
    first rows come playlist by playlist (the first 2,000 are all pop): for a small catalog
    that looks like the whole one, see `slicing.write_slice` (`es-ltrr catalog slice`)."""
    path, source = Path(path), Path(source)
    with _open_bytes(source, "rb") as src, _open_bytes(path, "wb") as dst:
        dst.writelines(itertools.islice(src, rows + 1))
    return path


def _open_bytes(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode) if path.name.endswith(".gz") else open(path, mode)  # type: ignore[return-value]


def _row_problem(row: dict[str | None, Any], width: int) -> str | None:
    """Why a row cannot be read at all (wrong column count, not UTF-8), or None."""
    if None in row:
        return f"{width + len(row[None])} columns, the header has {width}"
    if any(value is None for value in row.values()):
        return f"{sum(v is not None for v in row.values())} columns, the header has {width}"
    if any(_NOT_UTF8.search(value) for value in row.values()):
        return "not UTF-8 text"
    return None


def read_header(path: Path) -> list[str]:
    """The column names of a (gzipped) CSV file; an unreadable file is a ValueError."""
    try:
        with _open_text(path) as fh:
            return next(csv.reader(fh), [])
    except (OSError, EOFError, csv.Error) as exc:  # not gzip, truncated, a directory
        raise ValueError(f"{path}: cannot read ({exc})") from None


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
    rows: Iterable[tuple[int, dict[str, str]]], stats: LoadStats, source: str, width: int = len(SPOTIFY_COLUMNS)
) -> tuple[dict[str, MergedTrack], dict[str, dict[str, Any]], Counter[tuple[str, str]]]:
    """Merge (line, row) pairs into tracks and playlists; count (genre, subgenre) pairs."""
    tracks: dict[str, MergedTrack] = {}
    playlists: dict[str, dict[str, Any]] = {}
    pairs: Counter[tuple[str, str]] = Counter()
    for line, row in rows:
        stats.rows += 1
        problem = _row_problem(row, width)
        if problem:
            stats.skip_malformed(source, line, problem)
            continue
        if _missing(row.get("track_name")) or _missing(row.get("track_artist")):
            stats.skipped_empty += 1
            continue
        try:  # every row, not only a track's first: a bad row is reported wherever it is
            doc = _track_doc(row)
        except (ValueError, TypeError, KeyError) as exc:
            stats.skip_malformed(source, line, str(exc))
            continue
        tid = doc["id"]
        track = tracks.get(tid)
        if track is None:
            doc["_album_id"] = (row.get("track_album_id") or "").strip()
            track = tracks[tid] = MergedTrack(doc)
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


class _CountedLines:
    """A file's lines, counted as the csv module pulls them: its own `line_num` lags behind
    after a record it cannot parse, and a bad row must be reported at its own line."""

    def __init__(self, fh: io.TextIOBase):
        self.fh, self.count = fh, 0

    def __iter__(self) -> "_CountedLines":
        return self

    def __next__(self) -> str:
        line = next(self.fh)
        self.count += 1
        return line


def _progress_rows(fh: io.TextIOBase, progress: bool, source: str, stats: LoadStats) -> tuple[Iterator[tuple[int, dict[str, str]]], int]:
    """(first line, row) of every record, and the header's width; a record the csv module
    cannot parse (e.g. a field over its size limit) is reported by line and skipped."""
    lines = _CountedLines(fh)
    reader = csv.DictReader(lines)
    try:
        fieldnames = reader.fieldnames or ()
    except csv.Error as exc:
        raise ValueError(f"{source}: the header line is not readable CSV ({exc})") from None
    missing = SPOTIFY_COLUMNS - set(fieldnames)
    if missing:
        raise ValueError(f"{source}: not a Spotify catalog CSV, missing columns {sorted(missing)}")

    def numbered() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            start = lines.count + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                stats.rows += 1
                stats.skip_malformed(source, start, f"unreadable CSV: {exc}")
                continue
            yield start, row

    bar = tqdm(numbered(), desc="catalog rows", unit=" rows", disable=not progress, mininterval=0.5)
    return iter(bar), len(fieldnames)


def read_spotify(path: Path = DEFAULT_CATALOG, progress: bool = True) -> SpotifyCatalog:
    """Read a Spotify songs CSV (optionally gzipped): entities plus :class:`LoadStats`."""
    path = Path(path)
    start = time.perf_counter()
    stats = LoadStats(path=str(path))
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    try:
        with _open_text(path) as fh:
            rows, width = _progress_rows(fh, progress, str(path), stats)
            tracks, playlists, pairs = _read_rows(rows, stats, str(path), width)
    except (OSError, EOFError) as exc:  # not gzip, a truncated gzip stream
        raise ValueError(f"{path}: cannot read ({exc})") from None
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
    logger.log(logging.WARNING if catalog.stats.skipped_malformed else logging.INFO, "%s", catalog.stats.summary())
    return catalog.entities
