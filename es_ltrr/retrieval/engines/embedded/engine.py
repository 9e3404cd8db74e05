"""`EmbeddedEngine`: the `Engine` facade over a snapshot — search bodies in, ES responses out."""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from es_ltrr.common import analysis
from es_ltrr.common.schema import MUSIC, Capabilities, Schema
from es_ltrr.retrieval.engines.base import EngineError, QueryError, UnsupportedQuery, error_item

from .clauses import knn_es
from .evaluator import Eval, top_k
from .fields import Vectors
from .params import brief, clause_list, param_int, param_number
from .snapshot import Snapshot, keyword_normalizer, schema_paths
from .source import SourceFilter

log = logging.getLogger(__name__)

MAX_RESULT_WINDOW = 10_000  # ES index.max_result_window
_BODY_KEYS = frozenset({"query", "knn", "size", "from", "_source", "min_score", "sort",
                        "track_total_hits", "timeout"})



def release_freed_memory() -> None:
    """Hand the pages the replaced snapshot freed back to the OS (glibc's `malloc_trim`).

    A rebuilt field frees many small objects across the allocator's per-thread arenas;
    without a trim the process keeps them as its high-water mark (a soak with the Q2E
    memory relearned every 30 s grew +23 % instead of levelling off). No-op without glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None

class EmbeddedEngine:
    """In-process search over a `Schema`-shaped corpus, speaking ES request/response JSON.

    Examples
    --------
    >>> engine = EmbeddedEngine()
    >>> engine.index([{"id": "t1", "type": "track", "name": "Lover", "popularity": 80.0},
    ...               {"id": "t2", "type": "track", "name": "Love Story"}])
    2
    >>> body = {"query": {"match": {"name": {"query": "lovr", "fuzziness": "AUTO"}}}}
    >>> [h["_id"] for h in engine.msearch([body])[0]["hits"]["hits"]]  # lover, love
    ['t1', 't2']
    """

    flavor = "embedded"
    #: rank_features and the full analysis: the embedded engine executes both memory forms
    #: (`rank_feature`, and `term` on a rank_features field as Elasticsearch's sparse_vector).
    capabilities = Capabilities()

    def __init__(self, schema: Schema = MUSIC, index_name: str = "ltrr"):
        self.schema = schema
        self.index_name = index_name
        for _, f, _ in schema_paths(schema):  # fail at construction on unknown analysis
            if f.kind == "text":
                analysis.analyzer(f.analyzer or "standard")
            keyword_normalizer(f.normalizer if f.kind == "keyword" else None)
        self._ix = Snapshot.build(schema, [])
        self._writer = threading.Lock()  # writers build the next snapshot one at a time

    # -- Engine protocol ------------------------------------------------------------

    def index(self, docs: Iterable[dict], progress: Callable[[int], None] | None = None) -> int:
        """Replace the corpus with `docs` (a full rebuild); returns the number indexed."""
        with self._writer:
            self._ix = Snapshot.build(self.schema, docs, progress)
            return self._ix.n

    def update(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Partial updates by id (top-level fields replaced, see `Engine.update`).

        Copy-on-write: the next snapshot shares every untouched field and rebuilds only the
        touched ones, then replaces the current one in a single assignment; searches in
        flight keep the snapshot they started with.
        """
        if not updates:
            return 0
        with self._writer:
            self._ix = self._ix.update(updates)
        release_freed_memory()
        return len(updates)

    def msearch(self, bodies: list[dict]) -> list[dict]:
        """One response per body, like `_msearch`; a failing body yields an error item."""
        out = []
        for body in bodies:
            try:
                out.append(self.search(body))
            except EngineError as exc:
                out.append(error_item(exc))
            except Exception as exc:  # one body must not fail the others
                log.exception("embedded search failed")
                out.append(error_item(EngineError(f"{type(exc).__name__}: {exc}")))
        return out

    def get(self, ids: list[str], source: Any = True) -> dict[str, dict]:
        """`_source` by id (the vector only if `source` names it); unknown ids omitted."""
        ix = self._ix
        filt = SourceFilter.parse(source, self.schema.vector_field)
        out = {}
        for doc_id in ids:
            i = ix.id_to_idx.get(str(doc_id))
            if i is not None:
                out[str(doc_id)] = self._source(ix, i, filt) if filt else {}
        return out

    def health(self) -> dict:
        return {"status": "green", "docs": self._ix.n, "flavor": self.flavor}

    # -- search ---------------------------------------------------------------------

    def search(self, body: dict) -> dict:
        """One search body → one ES response; raises `EngineError` subclasses."""
        started = time.perf_counter()
        ix = self._ix  # one snapshot per request, even if index() swaps it meanwhile
        if not isinstance(body, dict):
            raise QueryError(f"a search body must be an object, got {brief(body)}")
        for key in body:
            if key not in _BODY_KEYS:
                raise UnsupportedQuery(f"unsupported search body key {key!r} at {key}")
        p = body
        size, start = param_int(p, "size", "size", 10), param_int(p, "from", "from", 0)
        if size + start > MAX_RESULT_WINDOW:
            raise QueryError(f"Result window is too large, from + size must be less than or "
                             f"equal to [{MAX_RESULT_WINDOW}]")
        _check_sort(p.get("sort"))
        source = SourceFilter.parse(p.get("_source"), self.schema.vector_field)
        ev = Eval(ix, size + start)
        with np.errstate(all="ignore"):
            if "query" in p:
                scores, matched = ev.query(p["query"], "query")
            elif "knn" in p:
                scores, matched = ev.none()
            else:
                scores, matched = ev.constant(np.ones(ix.n, bool))
            for spec, kpath in clause_list(p.get("knn"), "knn"):
                s, m = knn_es(ev, spec, kpath, default_k=max(size, 1))
                scores, matched = scores + s, matched | m
        if "min_score" in p:
            matched = matched & (scores >= param_number(p, "min_score", "min_score"))
        idx = np.flatnonzero(matched)
        total = int(idx.size)
        top = top_k(scores, idx, size + start)
        top = top[np.lexsort((top, -scores[top]))][start:]
        hits = []
        for i in top.tolist():
            hit = {"_index": self.index_name, "_id": ix.ids[i], "_score": float(scores[i])}
            if source is not None:
                hit["_source"] = self._source(ix, i, source)
            names = [name for name, mask in ev.named.items() if mask[i]]
            if names:
                hit["matched_queries"] = names
            hits.append(hit)
        return {
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": total, "relation": "eq"},
                     "max_score": float(scores[idx].max()) if total else None,
                     "hits": hits},
            "status": 200,
        }

    def _source(self, ix: Snapshot, i: int, filt: SourceFilter) -> dict:
        out = filt.apply(ix.sources[i])
        vectors = ix.fields.get(self.schema.vector_field)
        if filt.with_vector and isinstance(vectors, Vectors) and vectors.present[i]:
            out[self.schema.vector_field] = vectors.original(i)
        return out

    # -- persistence ----------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the built index to directory `path` (npz arrays + JSON meta/sources)."""
        self._ix.save(Path(path))

    @classmethod
    def load(cls, path: str | Path, schema: Schema = MUSIC,
             index_name: str = "ltrr") -> "EmbeddedEngine":
        """An engine serving the index `save` wrote; errors if the schema differs."""
        engine = cls(schema, index_name)
        engine._ix = Snapshot.load(schema, Path(path))
        return engine


def _check_sort(sort: Any) -> None:
    for entry, path in clause_list(sort, "sort"):
        if entry == "_score" or entry in ({"_score": "desc"}, {"_score": {"order": "desc"}}):
            continue
        raise UnsupportedQuery(f"unsupported sort {brief(entry)} at {path} "
                               "(only _score descending)")
