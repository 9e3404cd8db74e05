"""Load any catalog file: a Spotify songs CSV or JSON lines already in document shape.

=====================  =========================================================
file                   read as
=====================  =========================================================
`.csv`, `.csv.gz`      the Spotify songs columns → :func:`~es_ltrr.catalog.spotify.load_spotify`
`.jsonl`, `.jsonl.gz`  one entity per line, keys = schema fields (see below)
=====================  =========================================================

A JSON line is one object whose keys are fields of the schema (`MUSIC` by default);
`id`, `type` and `name` are required non-empty strings and ids must be unique. Blank lines
are skipped. A bad line — an unknown key, a missing required field, invalid JSON or UTF-8, a
duplicate id — is skipped and reported naming the file, the line and the key (logged, and
returned by :func:`read_jsonl`); the good lines load. A file with no good line is a
`ValueError`. Entities without `q2e` get the cold-start predicted queries
(:mod:`es_ltrr.catalog.queries`).
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any, Iterator

from es_ltrr.catalog.queries import attach_predicted_queries
from es_ltrr.catalog.spotify import SPOTIFY_COLUMNS, load_spotify, read_header
from es_ltrr.common.schema import MUSIC, Schema

REQUIRED: tuple[str, ...] = ("id", "type", "name")
#: Bad lines logged one by one (the rest are counted).
MAX_REPORTED = 20

logger = logging.getLogger(__name__)


def load_catalog(
    path: Path | str, schema: Schema = MUSIC, progress: bool = True
) -> list[dict[str, Any]]:
    """Entities of a catalog file, dispatched on its suffix (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        missing = SPOTIFY_COLUMNS - set(read_header(path))
        if missing:
            raise ValueError(
                f"{path}: a CSV catalog needs the Spotify songs columns; "
                f"missing {sorted(missing)}"
            )
        return load_spotify(path, progress=progress)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return load_jsonl(path, schema)
    raise ValueError(
        f"{path}: unsupported catalog format (expected .csv, .csv.gz, .jsonl or .jsonl.gz)"
    )


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes): decoding per line lets one bad line be skipped, not the file."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            yield from enumerate(fh, start=1)
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None


def read_jsonl(path: Path | str, schema: Schema = MUSIC) -> tuple[list[dict[str, Any]], list[str]]:
    """Entities of a JSON-lines file, and one message per skipped line ("file:line: why")."""
    path = Path(path)
    allowed = {f.name for f in schema.fields}
    entities: list[dict[str, Any]] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for line_no, raw in _lines(path):
        if not raw.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            doc = _entity(raw, where, allowed, seen, schema)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        seen[doc["id"]] = line_no
        entities.append(doc)
    return entities, skipped


def load_jsonl(path: Path | str, schema: Schema = MUSIC) -> list[dict[str, Any]]:
    """Entities of a JSON-lines file, validated against `schema`'s field names; bad lines are
    logged by line and skipped, and a file without one good line is a ValueError."""
    entities, skipped = read_jsonl(path, schema)
    for message in skipped[:MAX_REPORTED]:
        logger.warning("%s (line skipped)", message)
    if len(skipped) > MAX_REPORTED:
        logger.warning("%s: %d more bad lines skipped", path, len(skipped) - MAX_REPORTED)
    if not entities:
        reason = skipped[0] if skipped else f"{path}: no entity (the file is empty)"
        raise ValueError(f"{reason}" + (f" ({len(skipped)} bad lines, no good one)" if len(skipped) > 1 else ""))
    return entities


def _entity(raw: bytes, where: str, allowed: set[str], seen: dict[str, int], schema: Schema) -> dict[str, Any]:
    """One validated entity of a line, or a ValueError naming `where` and the key."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text ({exc.reason})") from None
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # nested too deeply; an integer too long
        raise ValueError(f"{where}: invalid JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a `\ud800` escape: no UTF-8 writer (index, cluster) takes it
        raise ValueError(f"{where}: a string holds an unpaired UTF-16 surrogate escape") from None
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (schema fields: {', '.join(sorted(allowed))})")
    for key in REQUIRED:
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: key {key!r} is required and must be a non-empty string")
    if doc["id"] in seen:
        raise ValueError(f"{where}: duplicate id {doc['id']!r} (first on line {seen[doc['id']]})")
    if schema.q2e_field not in doc:
        attach_predicted_queries(doc)
    else:
        _check_q2e(doc, schema.q2e_field, where)
    return doc


def _check_q2e(doc: dict[str, Any], field: str, where: str) -> None:
    q2e = doc[field]
    if not isinstance(q2e, dict):
        raise ValueError(f"{where}: key {field!r} must be an object of query key → score")
    for key, score in q2e.items():
        if "." in key or not key:
            raise ValueError(f"{where}: {field} key {key!r} must be non-empty without dots")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not score > 0:
            raise ValueError(f"{where}: {field}[{key!r}] must be a positive number")
