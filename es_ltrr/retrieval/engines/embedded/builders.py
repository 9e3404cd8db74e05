"""Build one field's storage from its column of document values (one value per document)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
from scipy import sparse

from es_ltrr.retrieval.engines.base import EngineError

from .ann import AnnIndex
from .fields import Features, KeywordField, Numeric, TextField, Vectors
from .lucene import K1, LEGACY_BM25_GAIN, POSITION_GAP, B, bm25_idf, lucene_lengths, quantize_feature
from .values import as_text, flat, index_number


def build_text(values: list, analyze: Callable[[str], list[str]], n: int,
                what: str) -> TextField:
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)  # new term → next id
    term_id = vocab.__getitem__
    tids: list[int] = []
    docs: list[int] = []
    poss: list[int] = []
    present: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        items = [value] if isinstance(value, str) else flat(value)
        if not items:
            continue
        present.append(i)
        base = 0
        for item in items:
            toks = analyze(as_text(item, what))
            tids += map(term_id, toks)
            docs += [i] * len(toks)
            poss += range(base, base + len(toks))
            base += len(toks) + POSITION_GAP
    tid = np.array(tids, np.int32)
    order = np.argsort(tid, kind="stable")  # → (term, doc, position) order
    tid, doc, pos = tid[order], np.array(docs, np.int32)[order], np.array(poss, np.int32)[order]
    n_terms = len(vocab)
    tok_ptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(np.bincount(tid, minlength=n_terms), out=tok_ptr[1:])
    key = tid.astype(np.int64) * max(n, 1) + doc
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else key
    tf = np.diff(np.r_[starts, key.size]).astype(np.float64)
    p_term, p_doc = tid[starts], doc[starts]
    lengths = np.bincount(doc, minlength=n)
    doc_count = int(np.count_nonzero(lengths))
    avgdl = lengths.sum() / doc_count if doc_count else 1.0
    norm = K1 * (1 - B + B * lucene_lengths(lengths) / avgdl)
    df = np.bincount(p_term, minlength=n_terms)
    idf = bm25_idf(df, doc_count)
    weights = (LEGACY_BM25_GAIN * idf[p_term] * tf / (tf + norm[p_doc])).astype(np.float32)
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    matrix = sparse.csc_array((weights, p_doc, indptr), shape=(n, n_terms))
    mask = np.zeros(n, bool)
    mask[present] = True
    return TextField(list(vocab), matrix, idf.astype(np.float32), doc_count, mask,
                      analyze=analyze, norm=norm.astype(np.float32), tok_ptr=tok_ptr,
                      tok_doc=doc, tok_pos=pos)


def build_keyword(values: list, normalize: Callable[[str], str], n: int,
                   what: str) -> KeywordField:
    vocab: dict[str, int] = {}
    term_id = vocab.setdefault
    pairs: set[tuple[int, int]] = set()
    present: list[int] = []
    for i, value in enumerate(values):
        items = [value] if isinstance(value, str) else flat(value)
        if items:
            present.append(i)
            pairs.update((term_id(normalize(as_text(v, what)), len(vocab)), i) for v in items)
    arr = np.array(sorted(pairs), np.int64).reshape(-1, 2)
    p_term, p_doc = arr[:, 0], arr[:, 1].astype(np.int32)
    n_terms, doc_count = len(vocab), len(present)
    df = np.bincount(p_term, minlength=n_terms)
    idf = bm25_idf(df, doc_count)
    avg_values = len(pairs) / doc_count if doc_count else 1.0
    tf_norm = LEGACY_BM25_GAIN / (1.0 + K1 * (1 - B + B / avg_values))  # tf = 1, no norms
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    matrix = sparse.csc_array(((idf[p_term] * tf_norm).astype(np.float32), p_doc, indptr),
                              shape=(n, n_terms))
    mask = np.zeros(n, bool)
    mask[present] = True
    return KeywordField(list(vocab), matrix, idf.astype(np.float32), doc_count, mask,
                         normalize=normalize)


def build_numeric(values: list, kind: str, n: int, what: str) -> Numeric:
    cache: dict[Any, float] = {}

    def convert(value: Any) -> float:
        if type(value) in (int, float) and kind != "date":
            return value
        if isinstance(value, (dict, set)):
            return index_number(value, kind, what)  # raises a clear EngineError
        if value not in cache:
            cache[value] = index_number(value, kind, what)
        return cache[value]

    vdoc: list[int] = []
    vals: list[float] = []
    multi = False
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            numbers = sorted(convert(v) for v in flat(value))
            multi = multi or len(numbers) > 1
            vdoc += [i] * len(numbers)
            vals += numbers
        else:
            vdoc.append(i)
            vals.append(convert(value))
    vdoc_arr, vals_arr = np.array(vdoc, np.int32), np.array(vals, np.float64)
    if kind == "float":  # ES stores `float` fields as float32
        vals_arr = vals_arr.astype(np.float32).astype(np.float64)
    elif kind == "integer":
        vals_arr = np.trunc(vals_arr)
    dense = np.full(n, np.nan)
    first = np.r_[True, vdoc_arr[1:] != vdoc_arr[:-1]] if vdoc_arr.size else vdoc_arr.astype(bool)
    dense[vdoc_arr[first]] = vals_arr[first]  # values of a doc are sorted: first = min
    if not multi:
        return Numeric(kind, dense)
    return Numeric(kind, dense, vdoc_arr, vals_arr)


def build_features(values: list, n: int, what: str) -> Features:
    keys: dict[str, int] = {}
    key_id = keys.setdefault
    kids: list[int] = []
    docs: list[int] = []
    vals: list[float] = []
    present: list[int] = []
    for i, value in enumerate(values):
        if not value:
            continue
        if not isinstance(value, Mapping):
            raise EngineError(f"{what}: rank_features needs an object, got {type(value).__name__}")
        present.append(i)
        for key, weight in value.items():
            if "." in key or not (isinstance(weight, (int, float)) and weight > 0):
                raise EngineError(
                    f"{what}: rank_features key {key!r} must have no dots and a positive value")
            kids.append(key_id(key, len(keys)))
            docs.append(i)
            vals.append(float(weight))
    kid = np.array(kids, np.int32)
    order = np.argsort(kid, kind="stable")
    ptr = np.zeros(len(keys) + 1, np.int64)
    np.cumsum(np.bincount(kid, minlength=len(keys)), out=ptr[1:])
    mask = np.zeros(n, bool)
    mask[present] = True
    return Features(list(keys), ptr, np.array(docs, np.int32)[order],
                     quantize_feature(np.array(vals, np.float32)[order]), mask)


def build_vectors(values: list, dims: int, n: int, what: str) -> Vectors:
    """Unit vectors, norms, presence, and the kNN graph when the corpus is large enough."""
    unit, norms, present = _unit_rows(values, dims, n, what)
    return Vectors(unit, norms, present, AnnIndex.build(unit, present))


def _unit_rows(values: list, dims: int, n: int,
               what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [i for i, v in enumerate(values) if v is not None and len(v)]
    unit = np.zeros((n, dims), np.float32)
    for i in rows:
        vec = np.asarray(values[i], np.float32)
        if vec.shape != (dims,):
            raise EngineError(f"{what}: doc #{i} has a vector of shape {vec.shape}, "
                              f"expected ({dims},)")
        unit[i] = vec
    norms = np.linalg.norm(unit, axis=1).astype(np.float32)
    present = np.zeros(n, bool)
    present[rows] = True
    if not np.isfinite(norms).all() or (norms[present] == 0).any():
        raise EngineError(f"{what}: vectors must be finite and non-zero for cosine similarity")
    unit[present] /= norms[present, None]
    return unit, norms, present


def replace_vectors(old: Vectors, rows: list[int], values: list, what: str) -> Vectors:
    """A copy of `old` with `rows` set to `values` (None removes a vector)."""
    new = _unit_rows(values, old.unit.shape[1], len(values), what)
    unit, norms, present = old.unit.copy(), old.norms.copy(), old.present.copy()
    unit[rows], norms[rows], present[rows] = new
    if old.ann is not None:  # the graph follows the changed rows (a copy: old stays intact)
        ann = old.ann.replaced(rows, unit, present)
    else:
        ann = AnnIndex.build(unit, present)
    return Vectors(unit, norms, present, ann)
