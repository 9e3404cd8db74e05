"""Load any catalog file: a Spotify songs CSV or JSON lines already in document shape.

=====================  =========================================================
file                   read as
=====================  =========================================================
`.csv`, `.csv.gz`      the Spotify songs columns → :func:`~es_ltrr.catalog.spotify.load_spotify`
`.jsonl`, `.jsonl.gz`  one entity per line, keys = schema fields (see below)
=====================  =========================================================

A JSON line is one object whose keys are fields of the schema (`MUSIC` by default);
`id`, `type` and `name` are required non-empty strings and ids must be unique. Blank lines
are skipped. An unknown key, a missing required field, invalid JSON or a duplicate id is a
`ValueError` naming the file, the line and the key. Entities without `q2e` get the
cold-start predicted queries (:mod:`es_ltrr.catalog.queries`).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

from es_ltrr.catalog.queries import attach_predicted_queries
from es_ltrr.catalog.spotify import SPOTIFY_COLUMNS, load_spotify, read_header
from es_ltrr.schema import MUSIC, Schema

REQUIRED: tuple[str, ...] = ("id", "type", "name")


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


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None


def load_jsonl(path: Path | str, schema: Schema = MUSIC) -> list[dict[str, Any]]:
    """Entities of a JSON-lines file, validated against `schema`'s field names."""
    path = Path(path)
    allowed = {f.name for f in schema.fields}
    entities: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - allowed)
        if unknown:
            raise ValueError(
                f"{where}: unknown key {unknown[0]!r} (schema fields: {', '.join(sorted(allowed))})"
            )
        for key in REQUIRED:
            value = doc.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: key {key!r} is required and must be a non-empty string")
        if doc["id"] in seen:
            raise ValueError(
                f"{where}: duplicate id {doc['id']!r} (first on line {seen[doc['id']]})"
            )
        seen[doc["id"]] = line_no
        if schema.q2e_field not in doc:
            attach_predicted_queries(doc)
        else:
            _check_q2e(doc, schema.q2e_field, where)
        entities.append(doc)
    return entities


def _check_q2e(doc: dict[str, Any], field: str, where: str) -> None:
    q2e = doc[field]
    if not isinstance(q2e, dict):
        raise ValueError(f"{where}: key {field!r} must be an object of query key → score")
    for key, score in q2e.items():
        if "." in key or not key:
            raise ValueError(f"{where}: {field} key {key!r} must be non-empty without dots")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not score > 0:
            raise ValueError(f"{where}: {field}[{key!r}] must be a positive number")
