"""Per-field storage of one snapshot: inverted text/keyword fields (BM25 weight matrices),
numeric/date columns, rank_features postings and unit vectors. Immutable once built."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein
from scipy import sparse

from .ann import AnnIndex
from .lucene import bm25_idf


class Fuzzy(NamedTuple):
    fuzziness: str  # "1", "2", "AUTO" or "AUTO:low,high"
    prefix_length: int
    max_expansions: int
    transpositions: bool

    def edits(self, term: str) -> int:
        """Allowed edits for `term`: AUTO[:low,high] by its length (default 3, 6), or 1/2."""
        if not self.fuzziness.startswith("AUTO"):
            return int(self.fuzziness)
        low, high = (int(x) for x in (self.fuzziness[5:] or "3,6").split(","))
        return 0 if len(term) < low else 1 if len(term) < high else 2


class Terms:
    """An inverted field: vocabulary, df/idf and a doc×term weight matrix (CSC)."""

    def __init__(self, vocab: list[str], weights: sparse.csc_array, idf: np.ndarray,
                 doc_count: int, present: np.ndarray):
        self.vocab = vocab
        self.term_ids = {t: i for i, t in enumerate(vocab)}
        self.weights = weights
        self.idf = idf
        self.doc_count = doc_count
        self.present = present
        self.df = np.diff(weights.indptr)
        self._fuzzy_cache: dict[tuple, list[tuple[int, float]]] = {}
        self._sorted: tuple[list[str], list[int]] | None = None

    def column(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """(doc indices, weights) of one term: a CSC column slice."""
        lo, hi = self.weights.indptr[tid], self.weights.indptr[tid + 1]
        return self.weights.indices[lo:hi], self.weights.data[lo:hi]

    def expand(self, term: str, fuzzy: Fuzzy | None) -> list[tuple[int, float]]:
        """Vocabulary terms a query term matches, each with its score multiplier."""
        edits = fuzzy.edits(term) if fuzzy else 0
        if edits == 0 or len(term) <= fuzzy.prefix_length:
            tid = self.term_ids.get(term)
            return [] if tid is None else [(tid, 1.0)]
        key = (term, edits, *fuzzy[1:])
        found = self._fuzzy_cache.get(key)
        if found is None:
            if len(self._fuzzy_cache) > 8192:
                self._fuzzy_cache.clear()
            found = self._fuzzy_cache[key] = self._fuzzy_expand(term, edits, fuzzy)
        return found

    def _fuzzy_expand(self, term: str, edits: int, fuzzy: Fuzzy) -> list[tuple[int, float]]:
        choices, choice_ids = self.vocab, None
        if fuzzy.prefix_length:
            if self._sorted is None:
                order = sorted(range(len(self.vocab)), key=self.vocab.__getitem__)
                self._sorted = ([self.vocab[i] for i in order], order)
            prefix = term[: fuzzy.prefix_length]
            lo = bisect_left(self._sorted[0], prefix)
            hi = bisect_left(self._sorted[0], prefix + "\U0010ffff")
            choices, choice_ids = self._sorted[0][lo:hi], self._sorted[1][lo:hi]
        scorer = OSA.distance if fuzzy.transpositions else Levenshtein.distance
        hits = process.extract(term, choices, scorer=scorer, score_cutoff=edits, limit=None)
        ranked = []
        for choice, dist, pos in hits:
            weight = 1.0 - dist / min(len(term), len(choice))  # Lucene FuzzyTermsEnum
            if weight > 0:
                ranked.append((-weight, choice, pos if choice_ids is None else choice_ids[pos]))
        ranked = sorted(ranked)[: fuzzy.max_expansions]
        if not ranked:
            return []
        blended = float(bm25_idf(max(int(self.df[t]) for _, _, t in ranked), self.doc_count))
        return [(t, -w * blended / float(self.idf[t])) for w, _, t in ranked]

    def arrays(self) -> dict[str, np.ndarray]:
        w = self.weights
        return {"data": w.data, "indices": w.indices, "indptr": w.indptr, "idf": self.idf,
                "present": self.present}

    def meta(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "doc_count": self.doc_count}

    @staticmethod
    def _restore_args(meta: dict, arrays: dict, n: int) -> tuple:
        shape = (n, len(meta["vocab"]))
        weights = sparse.csc_array(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        return meta["vocab"], weights, arrays["idf"], meta["doc_count"], arrays["present"]


class TextField(Terms):
    """A BM25 text field with token positions (sorted by term, doc, position)."""

    kind = "text"

    def __init__(self, *args: Any, analyze: Callable[[str], list[str]], norm: np.ndarray,
                 tok_ptr: np.ndarray, tok_doc: np.ndarray, tok_pos: np.ndarray):
        super().__init__(*args)
        self.analyze, self.norm = analyze, norm
        self.tok_ptr, self.tok_doc, self.tok_pos = tok_ptr, tok_doc, tok_pos
        self.stride = int(tok_pos.max()) + 2 if tok_pos.size else 1

    def phrase(self, tids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(docs, phrase frequency) where the terms occur adjacent and in order."""
        keys = None
        for offset, tid in enumerate(tids):
            lo, hi = self.tok_ptr[tid], self.tok_ptr[tid + 1]
            pos = self.tok_pos[lo:hi].astype(np.int64) - offset
            ok = pos >= 0
            k = self.tok_doc[lo:hi][ok].astype(np.int64) * self.stride + pos[ok]
            keys = k if keys is None else np.intersect1d(keys, k, assume_unique=True)
        docs, freq = np.unique(keys // self.stride, return_counts=True)
        return docs, freq

    def arrays(self) -> dict[str, np.ndarray]:
        return {**super().arrays(), "norm": self.norm, "tok_ptr": self.tok_ptr,
                "tok_doc": self.tok_doc, "tok_pos": self.tok_pos}

    @classmethod
    def restore(cls, meta: dict, arrays: dict, n: int, analyze: Callable) -> "TextField":
        return cls(*cls._restore_args(meta, arrays, n), analyze=analyze, norm=arrays["norm"],
                   tok_ptr=arrays["tok_ptr"], tok_doc=arrays["tok_doc"],
                   tok_pos=arrays["tok_pos"])


class KeywordField(Terms):
    """A keyword field: one term per (normalized) value, BM25 without norms."""

    kind = "keyword"

    def __init__(self, *args: Any, normalize: Callable[[str], str]):
        super().__init__(*args)
        self.normalize = normalize

    @classmethod
    def restore(cls, meta: dict, arrays: dict, n: int, normalize: Callable) -> "KeywordField":
        return cls(*cls._restore_args(meta, arrays, n), normalize=normalize)


@dataclass
class Numeric:
    """A numeric/date/boolean field: per-doc minimum (NaN = missing) + all values if multi."""

    kind: str
    dense: np.ndarray  # float64[n]
    vdoc: np.ndarray | None = None  # int32[m], ascending, only if some doc has several values
    vals: np.ndarray | None = None  # float64[m]

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.dense)

    def where(self, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Docs with any value passing `test` (vectorized over values)."""
        with np.errstate(invalid="ignore"):
            if self.vals is None:
                return test(self.dense)
            mask = np.zeros(self.dense.size, bool)
            mask[self.vdoc[test(self.vals)]] = True
            return mask

    def reduce(self, fn: Callable[[np.ndarray], np.ndarray], mode: str) -> np.ndarray:
        """`fn` over each value, reduced per doc by `mode` (min/max/avg/sum); NaN = missing."""
        if self.vals is None:
            return fn(self.dense)
        out = np.full(self.dense.size, np.nan)
        values = fn(self.vals)
        starts = np.flatnonzero(np.r_[True, self.vdoc[1:] != self.vdoc[:-1]])
        docs = self.vdoc[starts]
        if mode == "min":
            out[docs] = np.minimum.reduceat(values, starts)
        elif mode == "max":
            out[docs] = np.maximum.reduceat(values, starts)
        else:
            total = np.add.reduceat(values, starts)
            out[docs] = total if mode == "sum" else total / np.diff(np.r_[starts, values.size])
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"dense": self.dense}
        if self.vals is not None:
            out.update(vdoc=self.vdoc, vals=self.vals)
        return out

    def meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, kind: str, arrays: dict) -> "Numeric":
        return cls(kind, arrays["dense"], arrays.get("vdoc"), arrays.get("vals"))


class Features(Mapping):
    """A rank_features field: key → (doc indices int32, values float32)."""

    kind = "rank_features"

    def __init__(self, keys: list[str], ptr: np.ndarray, doc: np.ndarray, val: np.ndarray,
                 present: np.ndarray):
        self.keys_, self.ptr, self.doc, self.val, self.present = keys, ptr, doc, val, present
        self.key_ids = {k: i for i, k in enumerate(keys)}
        self._pivots: dict[str, float] = {}

    def __getitem__(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        kid = self.key_ids[key]
        lo, hi = self.ptr[kid], self.ptr[kid + 1]
        return self.doc[lo:hi], self.val[lo:hi]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)

    def pivot(self, key: str) -> float:
        """Lucene FeatureField's default pivot: ≈ geometric mean of the feature's values."""
        if key not in self._pivots:
            _, vals = self[key]
            encoded = (vals.view(np.uint32) >> 15).astype(np.float64)
            mean = int(np.float32(encoded.sum() / max(1, encoded.size)))
            self._pivots[key] = float(np.uint32(mean << 15).view(np.float32))
        return self._pivots[key]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ptr": self.ptr, "doc": self.doc, "val": self.val, "present": self.present}

    def meta(self) -> dict[str, Any]:
        return {"keys": self.keys_}

    @classmethod
    def restore(cls, meta: dict, arrays: dict) -> "Features":
        return cls(meta["keys"], arrays["ptr"], arrays["doc"], arrays["val"], arrays["present"])


@dataclass
class Vectors:
    """A dense-vector field: unit rows (float32), their original norms, presence, and the
    approximate-kNN graph over them (None: kNN is exact)."""

    unit: np.ndarray  # float32[n, dims] (zeros where missing)
    norms: np.ndarray  # float32[n]
    present: np.ndarray  # bool[n]
    ann: AnnIndex | None = None
    kind = "vector"

    def original(self, i: int) -> list[float]:
        return (self.unit[i] * self.norms[i]).tolist()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"unit": self.unit, "norms": self.norms, "present": self.present}

    def meta(self) -> dict[str, Any]:
        return {"ann": self.ann is not None}
