"""The index snapshot: ids, sources and every field's storage, built, saved and loaded as one
immutable value (so a search keeps its snapshot while a writer swaps in the next).

On disk (format 2): `meta.json` (ids, vocabularies), one `.npy` per array under `arrays/`,
memory-mapped read-only at load, and the sources as JSON lines decoded on first read
(`stored.py`): a cold start maps 180 MB instead of copying it and parsing 57 MB of JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from es_ltrr.common import analysis
from es_ltrr.common.schema import Schema
from es_ltrr.retrieval.engines.base import DocumentMissing, EngineError, check_update

from .ann import AnnIndex
from .builders import build_features, build_keyword, build_numeric, build_text, build_vectors, replace_vectors
from .fields import Features, KeywordField, Numeric, TextField, Vectors
from .lucene import hash64
from .stored import StoredSources, replace_file, with_changes, write_sources

#: 2: arrays as one memory-mapped .npy each, sources as JSON lines;
#: 3: a vector field's kNN graph is saved beside the arrays (`<field>.usearch`).
FORMAT_VERSION = 3
ARRAYS = "arrays"
NUMERIC_KINDS = ("float", "integer", "date", "boolean")


def schema_paths(schema: Schema) -> Iterator[tuple[str, Any, str]]:
    """(path, Field, source field name) for every indexed field and sub-field."""
    for f in schema.fields:
        yield f.name, f, f.name
        for sub in f.subfields:
            yield f"{f.name}.{sub.name}", sub, f.name


def keyword_normalizer(name: str | None) -> Callable[[str], str]:
    if name is None:
        return lambda s: s
    if name == "ltrr_norm":
        return analysis.normalize_keyword
    raise ValueError(f"normalizer {name!r} is not supported by the embedded engine")


def schema_signature(schema: Schema) -> list:
    """Fields, their analysis and the tokenizer version: an index built otherwise is rebuilt."""
    fields = [[p, f.kind, f.analyzer, f.normalizer, f.dims] for p, f, _ in schema_paths(schema)]
    return [*fields, ["analysis", analysis.ANALYSIS_VERSION]]


def _build_field(f: Any, col: list, n: int, what: str) -> Any:
    """One field's storage from its column of document values."""
    if f.kind == "text":
        return build_text(col, analysis.analyzer(f.analyzer or "standard"), n, what)
    if f.kind == "keyword":
        return build_keyword(col, keyword_normalizer(f.normalizer), n, what)
    if f.kind in NUMERIC_KINDS:
        return build_numeric(col, f.kind, n, what)
    if f.kind == "rank_features":
        return build_features(col, n, what)
    if f.kind == "vector":
        return build_vectors(col, f.dims or 0, n, what)
    raise EngineError(f"{what}: field kind {f.kind!r} is not supported by the embedded engine")


def _check_fields(schema: Schema, doc_id: Any, fields: Mapping) -> None:
    unknown = fields.keys() - {f.name for f in schema.fields}
    if unknown:
        raise EngineError(f"document {doc_id!r}: fields not in the schema "
                          f"(mapping is strict): {sorted(unknown)}")


class Snapshot:
    """One immutable snapshot of the corpus: ids, sources and every field's arrays.

    Writers never mutate a snapshot: `build` makes a new one and `update` a copy that shares
    every untouched field, so a search holding a snapshot reads consistent arrays.
    """

    def __init__(self, schema: Schema, ids: list[str], sources: Sequence[dict],
                 fields: dict[str, Any], id_hash: np.ndarray):
        self.schema, self.ids, self.sources, self.fields = schema, ids, sources, fields
        self.n = len(ids)
        self.id_to_idx = {d: i for i, d in enumerate(ids)}
        self.id_hash = id_hash

    @classmethod
    def build(cls, schema: Schema, docs: Iterable[dict],
              progress: Callable[[int], None] | None = None) -> "Snapshot":
        known = [f.name for f in schema.fields]
        cols: dict[str, list] = {name: [] for name in known}
        col_items = list(cols.items())
        ids: list[str] = []
        sources: list[dict] = []
        positions: dict[str, int] = {}
        seen = 0
        for seen, doc in enumerate(docs, 1):
            if not isinstance(doc, Mapping) or doc.get("id") is None:
                raise EngineError(f"document #{seen} must be an object with an 'id'")
            _check_fields(schema, doc["id"], doc)
            doc_id = str(doc["id"])
            source = {k: v for k, v in doc.items() if k != schema.vector_field}
            pos = positions.get(doc_id)
            if pos is None:  # a repeated id replaces the earlier document, like ES
                positions[doc_id] = len(ids)
                ids.append(doc_id)
                sources.append(source)
                for name, col in col_items:
                    col.append(doc.get(name))
            else:
                sources[pos] = source
                for name, col in col_items:
                    col[pos] = doc.get(name)
            if progress and seen % 5000 == 0:
                progress(5000)  # increments, like every engine's index(progress=...)
        if progress and seen % 5000:
            progress(seen % 5000)
        n = len(ids)
        fields = {path: _build_field(f, cols[name], n, f"field {path!r}")
                  for path, f, name in schema_paths(schema)}
        id_hash = np.array([hash64(i) for i in ids], np.uint64)
        return cls(schema, ids, sources, fields, id_hash)

    def update(self, updates: Mapping[str, Mapping[str, Any]]) -> "Snapshot":
        """A new snapshot with each document's given top-level fields replaced (ES `_update`
        with `doc`): touched fields are rebuilt from their columns (their BM25 statistics
        change), every other field's arrays are shared. Validates everything before building,
        so an error applies nothing."""
        rows = self._rows(updates)
        touched = {name for fields in updates.values() for name in fields}
        vector = self.schema.vector_field
        sources = with_changes(self.sources, {
            i: {**self.sources[i], **{k: v for k, v in fields.items() if k != vector}}
            for i, fields in zip(rows, updates.values())})
        new_fields = dict(self.fields)
        for path, f, name in schema_paths(self.schema):
            if name not in touched:
                continue
            what = f"field {path!r}"
            if name == vector:  # not kept in sources; rows are independent of each other
                given = [(i, fields) for i, fields in zip(rows, updates.values()) if name in fields]
                new_fields[path] = replace_vectors(self.fields[path], [i for i, _ in given],
                                                   [fields[name] for _, fields in given], what)
            else:
                new_fields[path] = _build_field(f, [s.get(name) for s in sources], self.n, what)
        new = copy.copy(self)
        new.sources, new.fields = sources, new_fields
        return new

    def _rows(self, updates: Mapping[str, Mapping[str, Any]]) -> list[int]:
        """The row of every updated id; raises before anything is built."""
        missing = [str(doc_id) for doc_id in updates if str(doc_id) not in self.id_to_idx]
        if missing:
            raise DocumentMissing(missing)
        known = {f.name for f in self.schema.fields}
        for doc_id, fields in updates.items():
            check_update(doc_id, fields, known)
        return [self.id_to_idx[str(doc_id)] for doc_id in updates]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"id_hash": self.id_hash}
        meta: dict[str, Any] = {"format": FORMAT_VERSION, "schema": schema_signature(self.schema),
                                "ids": self.ids, "fields": {}}
        for name, part in self.fields.items():
            meta["fields"][name] = part.meta()
            arrays.update({f"{name}/{k}": v for k, v in part.arrays().items()})
            if isinstance(part, Vectors) and part.ann is not None:
                part.ann.save(path / ann_file(name))
        for key, array in arrays.items():
            (path / ARRAYS / key).parent.mkdir(parents=True, exist_ok=True)
            replace_file(path / ARRAYS / f"{key}.npy", lambda f, a=array: np.save(f, a))
        write_sources(path, self.sources, _json_default)
        replace_file(path / "meta.json", lambda f: f.write(json.dumps(meta).encode()))

    @classmethod
    def load(cls, schema: Schema, path: Path) -> "Snapshot":
        """The saved index; a missing, truncated or corrupt file is an EngineError naming it."""
        try:
            return cls._load(schema, path)
        except EngineError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise EngineError(f"{path}: the embedded index is unreadable ({type(exc).__name__}: {exc}); "
                              "re-index with `es-ltrr index`") from exc

    @classmethod
    def _load(cls, schema: Schema, path: Path) -> "Snapshot":
        try:
            meta = json.loads((path / "meta.json").read_text())
        except ValueError as exc:
            raise ValueError(f"{path / 'meta.json'}: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION or meta.get("schema") != schema_signature(schema):
            raise EngineError(f"{path}: index was built with another format or schema; "
                              "re-index")
        arrays = {f.relative_to(path / ARRAYS).with_suffix("").as_posix(): _load_array(f)
                  for f in (path / ARRAYS).rglob("*.npy")}
        n = len(meta["ids"])
        fields: dict[str, Any] = {}
        for name, f, _ in schema_paths(schema):
            part = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(name + "/")}
            fmeta = meta["fields"][name]
            if f.kind == "text":
                analyze = analysis.analyzer(f.analyzer or "standard")
                fields[name] = TextField.restore(fmeta, part, n, analyze)
            elif f.kind == "keyword":
                fields[name] = KeywordField.restore(fmeta, part, n, keyword_normalizer(f.normalizer))
            elif f.kind in NUMERIC_KINDS:
                fields[name] = Numeric.restore(f.kind, part)
            elif f.kind == "rank_features":
                fields[name] = Features.restore(fmeta, part)
            elif f.kind == "vector":
                ann = (AnnIndex.load(path / ann_file(name), part["unit"].shape[1])
                       if fmeta.get("ann") else None)
                fields[name] = Vectors(part["unit"], part["norms"], part["present"], ann)
        return cls(schema, meta["ids"], StoredSources.load(path), fields, arrays["id_hash"])


def _load_array(path: Path) -> np.ndarray:
    """One memory-mapped array; a truncated or damaged header is a ValueError naming the file."""
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def ann_file(field: str) -> str:
    """The file of a vector field's kNN graph inside the index directory."""
    return f"{field}.usearch"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in _source")
