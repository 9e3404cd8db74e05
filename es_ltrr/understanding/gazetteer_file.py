"""The gazetteer on disk: one gzip'd JSON file with a format name and version.

Plain data rather than a pickle: a pickle ties the file to class and module names, runs
code on load and cannot say which version wrote it. This file stores only the built
tables (:class:`~es_ltrr.understanding.entries.Tables`); the fuzzy index and the caches
are rebuilt on load. Layout of version 1::

    {
      "format": "es-ltrr-gazetteer",
      "version": 1,
      "kinds": ["entity_type", "era", ...],          # slot kinds, by index
      "entries": [[kind, value, prior, popularity, entity_id], ...],  # distinct entries
      "exact": {"taylor swift": [17, 3], ...},       # key → entry indices, best first
      "fuzzy": {"taylor swift": 17, ...},            # key → entry index
      "artist_titles": {"taylor swift": {"lover": 912, ...}, ...},
      "artist_albums": {"taylor swift": {"lover": 913, ...}, ...}
    }

A file of another format version, or a truncated or corrupt one, raises ValueError naming
the file and saying to rebuild it with `es-ltrr index`; change :data:`VERSION` whenever the
layout or the meaning of a field changes.
"""

from __future__ import annotations

import gc
import gzip
import json
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from es_ltrr.understanding.entries import Entry, Tables
from es_ltrr.understanding.vocabulary import KINDS

FORMAT = "es-ltrr-gazetteer"
VERSION = 1


def write(tables: Tables, path: Path) -> None:
    """Write `tables` to `path` (through a temporary file, so readers never see half)."""
    rows: list[list[Any]] = []
    index: dict[tuple[Any, ...], int] = {}
    kind_index = {kind: i for i, kind in enumerate(KINDS)}

    def ref(e: Entry) -> int:
        key = (e.kind, repr(e.value), e.prior, e.popularity, e.entity_id)
        i = index.get(key)
        if i is None:
            i = index[key] = len(rows)
            rows.append([kind_index[e.kind], e.value, e.prior, e.popularity, e.entity_id])
        return i

    exact = {key: [ref(e) for e in entries] for key, entries in tables.exact.items()}
    fuzzy = {key: ref(e) for key, e in tables.fuzzy.items()}
    titles = _refs(tables.artist_titles, ref)
    albums = _refs(tables.artist_albums, ref)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "kinds": list(KINDS),
        "entries": rows,
        "exact": exact,
        "fuzzy": fuzzy,
        "artist_titles": titles,
        "artist_albums": albums,
    }
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    tmp.replace(path)


def read(path: Path) -> Tables:
    """The tables saved in `path`; FileNotFoundError if it is missing, else ValueError."""
    raw = path.read_bytes()
    with _no_gc():
        try:
            doc = json.loads(gzip.decompress(raw))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise _invalid(path, f"it is not gzip'd JSON ({exc})") from exc
        return _tables(path, doc)


def _tables(path: Path, doc: Any) -> Tables:
    """The tables of a parsed file, after checking its format name and version."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _invalid(path, f"it is not an {FORMAT} file")
    if doc.get("version") != VERSION:
        version = doc.get("version")
        raise _invalid(path, f"it has format version {version!r}, this es-ltrr reads {VERSION}")
    try:
        return _decode(doc)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise _invalid(path, f"its tables are malformed ({exc!r})") from exc


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cycle collector: loading makes ~10^6 acyclic objects, and collections
    triggered along the way would take about half the load time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _refs(table: dict[str, dict[str, Entry]], ref: Any) -> dict[str, dict[str, int]]:
    return {artist: {title: ref(e) for title, e in t.items()} for artist, t in table.items()}


def _decode(doc: dict[str, Any]) -> Tables:
    kinds = doc["kinds"]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown slot kinds {sorted(unknown)}")
    entries = [Entry(kinds[k], value, prior, pop, eid) for k, value, prior, pop, eid in doc["entries"]]

    def titles(table: dict[str, dict[str, int]]) -> dict[str, dict[str, Entry]]:
        return {artist: {title: entries[i] for title, i in t.items()} for artist, t in table.items()}

    return Tables(
        exact={key: tuple(entries[i] for i in refs) for key, refs in doc["exact"].items()},
        fuzzy={key: entries[i] for key, i in doc["fuzzy"].items()},
        artist_titles=titles(doc["artist_titles"]),
        artist_albums=titles(doc["artist_albums"]),
    )


def _invalid(path: Path, why: str) -> ValueError:
    return ValueError(f"cannot load the gazetteer {path}: {why}; rebuild it with `es-ltrr index`")
