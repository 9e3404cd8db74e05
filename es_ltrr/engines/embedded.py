"""EmbeddedEngine: an in-process engine that runs the query-DSL subset the arm templates use.

The corpus is indexed into numpy/scipy arrays (one BM25 weight matrix per text field, in the
style of `bm25s`: a query term's scores are one column slice), and every query clause
evaluates to `(scores: float32[n_docs], matched: bool[n_docs])` over the whole corpus. The
evaluator is a dispatch table of short functions, one per clause (`_CLAUSES`). Anything
outside the subset raises `UnsupportedQuery` naming the clause and its JSON path; nothing is
silently approximated. Analysis comes from `es_ltrr.analysis` via `es_ltrr.schema`.

Supported request body keys: `query`, `knn` (ES top-level form; scores add to the query's),
`size` (default 10), `from`, `_source` (bool / field / list / includes+excludes, wildcards),
`min_score`, `sort` (only `_score` descending), `track_total_hits` and `timeout` (ignored).

Supported clauses: `match_all`, `match_none`, `bool` (must / should / filter / must_not,
minimum_should_match, boost), `constant_score`, `dis_max`, `term`, `terms`, `range`
(gt/gte/lt/lte on numbers and dates), `exists`, `ids`, `match` (operator, minimum_should_match,
fuzziness, prefix_length, max_expansions, fuzzy_transpositions, lenient, zero_terms_query,
analyzer), `match_phrase` (slop 0), `multi_match` (best_fields, most_fields, phrase; field
boosts `name^3` and wildcards), `function_score` (field_value_factor, random_score, weight,
gauss/exp/linear decay on numeric and date fields; score_mode, boost_mode, max_boost,
min_score), `rank_feature` (saturation, log, sigmoid, linear), `knn` (OpenSearch
`{"knn": {field: {"vector", "k", "filter"}}}` and Elasticsearch `{"knn": {"field",
"query_vector", "k", "num_candidates", "filter", "similarity"}}`). Every clause takes
`boost` and `_name` (hits then carry `matched_queries`).

Scoring follows Lucene as used by Elasticsearch/OpenSearch with one shard:

* BM25 (k1 1.2, b 0.75): `(k1 + 1) · idf · tf / (tf + k1·(1 − b + b·dl/avgdl))`, idf =
  `ln(1 + (N − df + 0.5)/(df + 0.5))` with N = documents that have the field. Lucene ≥ 8
  dropped the `(k1 + 1)` factor, but Elasticsearch and OpenSearch use LegacyBM25Similarity,
  which keeps it (measured against the real node: scores agree within 1 %). Field lengths are quantized to one byte
  like Lucene's norms (`SmallFloat.intToByte4`; exact up to 40 tokens), avgdl is exact.
  Array-valued text is concatenated with a position gap of 100 (no phrase across values).
* Keyword fields have no norms and no frequencies: a term scores `(k1 + 1) · idf / (1 + k1·(1 − b +
  b/avgdl))` (avgdl = values per document), as in Lucene. Numeric/date/`terms`/`range`/
  `exists`/`ids`/`constant_score` score a constant 1 × boost.
* Fuzzy terms use Lucene's blended rewrite: each expansion is weighted by `1 − d /
  min(len(term), len(expansion))` and scored with the idf of the most frequent expansion.
* `match_phrase` scores phrase frequency with the sum of the terms' idfs, like PhraseQuery.
* rank_feature values are stored with Lucene FeatureField's 9 significant bits, and the
  default saturation pivot is FeatureField's approximation of the geometric mean.
* Fuzzy edit distance is Damerau (OSA, `fuzzy_transpositions` default true) or Levenshtein.
* kNN: score `(1 + cosine) / 2` (ES `cosine`, OpenSearch Lucene `cosinesimil`). As on a
  cluster, a knn clause's own `filter` pre-filters; filters elsewhere in the tree post-filter.
  Top-level `knn` hits are unioned with the query's and their scores add.
* `function_score` fails (400) on a matching doc without the field_value_factor field and no
  `missing`, or on a negative/NaN modifier result, as ES does.

Known differences from Elasticsearch (scores need not be identical; ranking should be close):

* Float arithmetic is numpy float32/float64, not Lucene's float: last-digit differences.
* Statistics are exact for the current corpus (ES: one shard, but deleted documents keep
  counting in df until segments merge).
* A fuzzy query term scores the *max* over its expansions; Lucene sums its expansions'
  SHOULD clauses (equal unless one field holds several expansions of the same term).
  Expansions whose weight would be <= 0 are dropped.
* kNN search is exact (brute-force cosine); HNSW is approximate, so a cluster can miss
  neighbours we find. `num_candidates` only sets `k` for an ES knn *query* without `k`
  (ES then keeps num_candidates hits per shard, default 1.5 × size).
* `random_score` values differ from ES (a splitmix hash of seed and `_id`; `field` may only
  be `_seq_no`, `_id` or `id`), but are deterministic per (seed, _id); without a seed they
  are random per request, as in ES.
* `hits.total` is always exact (`"relation": "eq"`); `track_total_hits` and `timeout` are
  ignored.
* `_source` never includes the vector field unless it is named literally in the includes
  (ES returns it by default); it is returned as float32 (unit vector × stored norm).
* Date math (`now-1y`, `||+1d`, rounding) and time zones are unsupported (`UnsupportedQuery`);
  dates are UTC, partial dates in `lte`/`gt` round up to the end of their unit like ES.
* Analysis is `es_ltrr.analysis` (a regex approximation of the standard tokenizer).
* A document with a field not in the schema is rejected (the mappings are `dynamic:
  strict`); queries on fields not in the schema match nothing, as in ES.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import secrets
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein
from scipy import sparse

from es_ltrr import analysis
from es_ltrr.engines.base import EngineError, QueryError, UnsupportedQuery, error_item
from es_ltrr.schema import MUSIC, Schema

log = logging.getLogger(__name__)

K1, B = 1.2, 0.75
#: Elasticsearch/OpenSearch score with LegacyBM25Similarity, which keeps the (k1 + 1) factor
LEGACY_BM25_GAIN = K1 + 1
POSITION_GAP = 100  # Lucene's position_increment_gap between values of an array
MAX_RESULT_WINDOW = 10_000  # ES index.max_result_window
FORMAT_VERSION = 1
NUMERIC_KINDS = ("float", "integer", "date", "boolean")

Result = tuple[np.ndarray, np.ndarray]  # (scores float32[n], matched bool[n])


# --------------------------------------------------------------------------- values


def _flat(value: Any) -> list:
    """A field's values: arrays flattened like ES does, nulls dropped."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        out: list = []
        for item in value:
            out.extend(_flat(item))
        return out
    return [value]


def _text(value: Any, what: str) -> str:
    """A scalar as the string ES would index for text/keyword fields."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.number)):
        return str(value)
    raise EngineError(f"{what}: expected a string, got {type(value).__name__}")


def _parse_date(value: Any, round_up: bool = False) -> float:
    """A date (ISO string, `datetime.date` or epoch millis) → epoch milliseconds (UTC)."""
    if isinstance(value, bool):
        raise QueryError(f"failed to parse date {value!r}")
    if isinstance(value, (int, float, np.number)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("now") or "||" in text:
            raise UnsupportedQuery(f"date math {value!r} is not supported")
        if text.endswith("Z"):
            text = text[:-1]
        if re.search(r"[+-]\d\d:?\d\d$", text) and "T" in text:
            raise UnsupportedQuery(f"time zone offsets in dates are not supported: {value!r}")
    else:
        text = value
    try:
        day = np.datetime64(text)
    except (ValueError, TypeError):
        raise QueryError(f"failed to parse date {value!r}") from None
    if np.isnat(day):
        raise QueryError(f"failed to parse date {value!r}")
    if round_up:  # ES fills missing fields with their maximum for lte/gt ("2020" → Dec 31)
        unit = np.datetime_data(day.dtype)[0]
        nxt = (day + np.timedelta64(1, unit)).astype("datetime64[ms]").astype(np.int64)
        return float(nxt - 1)
    return float(day.astype("datetime64[ms]").astype(np.int64))


def _parse_number(value: Any, kind: str) -> float:
    """A query value for a numeric field of `kind` (floats rounded to float32 like ES)."""
    if kind == "date":
        return _parse_date(value)
    if kind == "boolean":
        if value in (True, "true"):
            return 1.0
        if value in (False, "false"):
            return 0.0
        raise QueryError(f"can't parse boolean value [{value}], expected [true] or [false]")
    if isinstance(value, bool):
        raise QueryError(f"can't parse [{value}] as a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QueryError(f"can't parse [{value}] as a number") from None
    return float(np.float32(number)) if kind == "float" else number


def _index_number(value: Any, kind: str, what: str) -> float:
    """A document value for a numeric field (ES coerces strings, truncates integers)."""
    try:
        number = _parse_number(value, kind)
    except QueryError as exc:
        raise EngineError(f"{what}: {exc}") from None
    return float(math.trunc(number)) if kind == "integer" and math.isfinite(number) else number


_TIME_UNITS_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6,
                  "d": 8.64e7}


def _time_value(value: Any, path: str) -> float:
    """An ES TimeValue ("10d", "12h") → milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*(nanos|micros|ms|s|m|h|d)\s*", str(value))
    if not match or isinstance(value, (int, float)):
        raise QueryError(f"failed to parse time value {value!r} at {path} (e.g. '30d', '12h')")
    return int(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def _min_should_match(spec: Any, optional: int, path: str) -> int:
    """ES `minimum_should_match` (int, "75%", "-25%", "3<90%") for `optional` clauses."""
    count = optional
    try:
        if isinstance(spec, bool):
            raise ValueError
        if isinstance(spec, int):
            result = spec if spec >= 0 else count + spec
        else:
            text = str(spec).strip()
            if "<" in text:
                result = count
                for part in re.sub(r"\s*<\s*", "<", text).split():
                    bound, _, sub = part.partition("<")
                    if count <= int(bound):
                        return result
                    result = _min_should_match(sub, count, path)
                return result
            if text.endswith("%"):
                calc = count * int(text[:-1]) / 100
                result = count + int(calc) if calc < 0 else int(calc)
            else:
                result = int(text)
                result = result if result >= 0 else count + result
    except ValueError:
        raise QueryError(f"invalid minimum_should_match {spec!r} at {path}") from None
    return min(count, max(0, result))


def _lucene_lengths(lengths: np.ndarray) -> np.ndarray:
    """Field lengths as Lucene's one-byte norms decode them (`SmallFloat.intToByte4`)."""
    return _LENGTH_TABLE[np.searchsorted(_LENGTH_TABLE, lengths, side="right") - 1]


def _length_table() -> np.ndarray:
    table = []
    for byte in range(256):  # 24 exact values, then 4-significant-bit floats
        if byte < 24:
            table.append(byte)
        else:
            bits, shift = (byte - 24) & 7, ((byte - 24) >> 3) - 1
            table.append(24 + (bits if shift < 0 else (bits | 8) << shift))
    return np.array(table, dtype=np.float64)


_LENGTH_TABLE = _length_table()


def _idf(df: np.ndarray | int, doc_count: int) -> np.ndarray:
    return np.log1p((doc_count - np.asarray(df, np.float64) + 0.5) / (np.asarray(df) + 0.5))


def _quantize_feature(values: np.ndarray) -> np.ndarray:
    """Keep 9 significant bits, as Lucene FeatureField stores rank features."""
    bits = np.asarray(values, np.float32).view(np.uint32) >> 15 << 15
    return bits.view(np.float32)


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _uniform(hashes: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64(hash ^ seed) → floats in [0, 1)."""
    z = hashes ^ np.uint64(seed)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


# --------------------------------------------------------------------------- index parts


class _Fuzzy(NamedTuple):
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


class _Terms:
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

    def expand(self, term: str, fuzzy: _Fuzzy | None) -> list[tuple[int, float]]:
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

    def _fuzzy_expand(self, term: str, edits: int, fuzzy: _Fuzzy) -> list[tuple[int, float]]:
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
        blended = float(_idf(max(int(self.df[t]) for _, _, t in ranked), self.doc_count))
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


class _TextField(_Terms):
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
    def restore(cls, meta: dict, arrays: dict, n: int, analyze: Callable) -> "_TextField":
        return cls(*cls._restore_args(meta, arrays, n), analyze=analyze, norm=arrays["norm"],
                   tok_ptr=arrays["tok_ptr"], tok_doc=arrays["tok_doc"],
                   tok_pos=arrays["tok_pos"])


class _KeywordField(_Terms):
    """A keyword field: one term per (normalized) value, BM25 without norms."""

    kind = "keyword"

    def __init__(self, *args: Any, normalize: Callable[[str], str]):
        super().__init__(*args)
        self.normalize = normalize

    @classmethod
    def restore(cls, meta: dict, arrays: dict, n: int, normalize: Callable) -> "_KeywordField":
        return cls(*cls._restore_args(meta, arrays, n), normalize=normalize)


@dataclass
class _Numeric:
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
    def restore(cls, kind: str, arrays: dict) -> "_Numeric":
        return cls(kind, arrays["dense"], arrays.get("vdoc"), arrays.get("vals"))


class _Features(Mapping):
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
    def restore(cls, meta: dict, arrays: dict) -> "_Features":
        return cls(meta["keys"], arrays["ptr"], arrays["doc"], arrays["val"], arrays["present"])


@dataclass
class _Vectors:
    """A dense-vector field: unit rows (float32), their original norms, presence."""

    unit: np.ndarray  # float32[n, dims] (zeros where missing)
    norms: np.ndarray  # float32[n]
    present: np.ndarray  # bool[n]
    kind = "vector"

    def original(self, i: int) -> list[float]:
        return (self.unit[i] * self.norms[i]).tolist()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"unit": self.unit, "norms": self.norms, "present": self.present}

    def meta(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- building


def _build_text(values: list, analyze: Callable[[str], list[str]], n: int,
                what: str) -> _TextField:
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)  # new term → next id
    term_id = vocab.__getitem__
    tids: list[int] = []
    docs: list[int] = []
    poss: list[int] = []
    present: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        items = [value] if isinstance(value, str) else _flat(value)
        if not items:
            continue
        present.append(i)
        base = 0
        for item in items:
            toks = analyze(_text(item, what))
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
    norm = K1 * (1 - B + B * _lucene_lengths(lengths) / avgdl)
    df = np.bincount(p_term, minlength=n_terms)
    idf = _idf(df, doc_count)
    weights = (LEGACY_BM25_GAIN * idf[p_term] * tf / (tf + norm[p_doc])).astype(np.float32)
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    matrix = sparse.csc_array((weights, p_doc, indptr), shape=(n, n_terms))
    mask = np.zeros(n, bool)
    mask[present] = True
    return _TextField(list(vocab), matrix, idf.astype(np.float32), doc_count, mask,
                      analyze=analyze, norm=norm.astype(np.float32), tok_ptr=tok_ptr,
                      tok_doc=doc, tok_pos=pos)


def _build_keyword(values: list, normalize: Callable[[str], str], n: int,
                   what: str) -> _KeywordField:
    vocab: dict[str, int] = {}
    term_id = vocab.setdefault
    pairs: set[tuple[int, int]] = set()
    present: list[int] = []
    for i, value in enumerate(values):
        items = [value] if isinstance(value, str) else _flat(value)
        if items:
            present.append(i)
            pairs.update((term_id(normalize(_text(v, what)), len(vocab)), i) for v in items)
    arr = np.array(sorted(pairs), np.int64).reshape(-1, 2)
    p_term, p_doc = arr[:, 0], arr[:, 1].astype(np.int32)
    n_terms, doc_count = len(vocab), len(present)
    df = np.bincount(p_term, minlength=n_terms)
    idf = _idf(df, doc_count)
    avg_values = len(pairs) / doc_count if doc_count else 1.0
    tf_norm = LEGACY_BM25_GAIN / (1.0 + K1 * (1 - B + B / avg_values))  # tf = 1, no norms
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    matrix = sparse.csc_array(((idf[p_term] * tf_norm).astype(np.float32), p_doc, indptr),
                              shape=(n, n_terms))
    mask = np.zeros(n, bool)
    mask[present] = True
    return _KeywordField(list(vocab), matrix, idf.astype(np.float32), doc_count, mask,
                         normalize=normalize)


def _build_numeric(values: list, kind: str, n: int, what: str) -> _Numeric:
    cache: dict[Any, float] = {}

    def convert(value: Any) -> float:
        if type(value) in (int, float) and kind != "date":
            return value
        if isinstance(value, (dict, set)):
            return _index_number(value, kind, what)  # raises a clear EngineError
        if value not in cache:
            cache[value] = _index_number(value, kind, what)
        return cache[value]

    vdoc: list[int] = []
    vals: list[float] = []
    multi = False
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            numbers = sorted(convert(v) for v in _flat(value))
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
        return _Numeric(kind, dense)
    return _Numeric(kind, dense, vdoc_arr, vals_arr)


def _build_features(values: list, n: int, what: str) -> _Features:
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
    return _Features(list(keys), ptr, np.array(docs, np.int32)[order],
                     _quantize_feature(np.array(vals, np.float32)[order]), mask)


def _build_vectors(values: list, dims: int, n: int, what: str) -> _Vectors:
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
    return _Vectors(unit, norms, present)


def _schema_paths(schema: Schema) -> Iterator[tuple[str, Any, str]]:
    """(path, Field, source field name) for every indexed field and sub-field."""
    for f in schema.fields:
        yield f.name, f, f.name
        for sub in f.subfields:
            yield f"{f.name}.{sub.name}", sub, f.name


def _normalizer(name: str | None) -> Callable[[str], str]:
    if name is None:
        return lambda s: s
    if name == "ltrr_norm":
        return analysis.normalize_keyword
    raise ValueError(f"normalizer {name!r} is not supported by the embedded engine")


def _signature(schema: Schema) -> list:
    return [[p, f.kind, f.analyzer, f.normalizer, f.dims] for p, f, _ in _schema_paths(schema)]


class _Index:
    """One immutable snapshot of the corpus: ids, sources and every field's arrays."""

    def __init__(self, schema: Schema, ids: list[str], sources: list[dict],
                 fields: dict[str, Any], id_hash: np.ndarray):
        self.schema, self.ids, self.sources, self.fields = schema, ids, sources, fields
        self.n = len(ids)
        self.id_to_idx = {d: i for i, d in enumerate(ids)}
        self.id_hash = id_hash

    @classmethod
    def build(cls, schema: Schema, docs: Iterable[dict],
              progress: Callable[[int], None] | None = None) -> "_Index":
        known = [f.name for f in schema.fields]
        known_set = set(known)
        cols: dict[str, list] = {name: [] for name in known}
        col_items = list(cols.items())
        ids: list[str] = []
        sources: list[dict] = []
        positions: dict[str, int] = {}
        seen = 0
        for seen, doc in enumerate(docs, 1):
            if not isinstance(doc, Mapping) or doc.get("id") is None:
                raise EngineError(f"document #{seen} must be an object with an 'id'")
            unknown = doc.keys() - known_set
            if unknown:
                raise EngineError(f"document {doc['id']!r}: fields not in the schema "
                                  f"(mapping is strict): {sorted(unknown)}")
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
        fields: dict[str, Any] = {}
        for path, f, source_name in _schema_paths(schema):
            col, what = cols[source_name], f"field {path!r}"
            if f.kind == "text":
                analyze = analysis.analyzer(f.analyzer or "standard")
                fields[path] = _build_text(col, analyze, n, what)
            elif f.kind == "keyword":
                fields[path] = _build_keyword(col, _normalizer(f.normalizer), n, what)
            elif f.kind in NUMERIC_KINDS:
                fields[path] = _build_numeric(col, f.kind, n, what)
            elif f.kind == "rank_features":
                fields[path] = _build_features(col, n, what)
            elif f.kind == "vector":
                fields[path] = _build_vectors(col, f.dims or 0, n, what)
        id_hash = np.array([_hash64(i) for i in ids], np.uint64)
        return cls(schema, ids, sources, fields, id_hash)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"id_hash": self.id_hash}
        meta: dict[str, Any] = {"format": FORMAT_VERSION, "schema": _signature(self.schema),
                                "ids": self.ids, "fields": {}}
        for name, part in self.fields.items():
            meta["fields"][name] = part.meta()
            arrays.update({f"{name}/{k}": v for k, v in part.arrays().items()})
        np.savez(path / "arrays.npz", **arrays)
        (path / "meta.json").write_text(json.dumps(meta))
        (path / "sources.json").write_text(json.dumps(self.sources, default=_json_default))

    @classmethod
    def load(cls, schema: Schema, path: Path) -> "_Index":
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("schema") != _signature(schema):
            raise EngineError(f"{path}: index was built with another format or schema; "
                              "re-index")
        with np.load(path / "arrays.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        n = len(meta["ids"])
        fields: dict[str, Any] = {}
        for name, f, _ in _schema_paths(schema):
            part = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(name + "/")}
            fmeta = meta["fields"][name]
            if f.kind == "text":
                analyze = analysis.analyzer(f.analyzer or "standard")
                fields[name] = _TextField.restore(fmeta, part, n, analyze)
            elif f.kind == "keyword":
                fields[name] = _KeywordField.restore(fmeta, part, n, _normalizer(f.normalizer))
            elif f.kind in NUMERIC_KINDS:
                fields[name] = _Numeric.restore(f.kind, part)
            elif f.kind == "rank_features":
                fields[name] = _Features.restore(fmeta, part)
            elif f.kind == "vector":
                fields[name] = _Vectors(part["unit"], part["norms"], part["present"])
        sources = json.loads((path / "sources.json").read_text())
        return cls(schema, meta["ids"], sources, fields, arrays["id_hash"])


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in _source")


# --------------------------------------------------------------------------- evaluation


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 80 else text[:77] + "..."


def _params(spec: Any, path: str, clause: str, allowed: frozenset[str]) -> dict:
    if not isinstance(spec, dict):
        raise QueryError(f"[{clause}] at {path} must be an object, got {_brief(spec)}")
    for key in spec:
        if key not in allowed:
            raise UnsupportedQuery(f"unsupported parameter {key!r} in {clause!r} at {path}")
    return spec


def _single_field(spec: Any, path: str, clause: str, allowed: frozenset[str],
                  short: str) -> tuple[str, dict, str]:
    """`{field: value}` or `{field: {params}}` → (field, params, path of the field)."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(f"[{clause}] at {path} needs exactly one field, got {_brief(spec)}")
    ((field, value),) = spec.items()
    fpath = f"{path}.{field}"
    if isinstance(value, dict):
        return field, _params(value, fpath, clause, allowed), fpath
    return field, {short: value}, fpath


def _number(params: dict, key: str, path: str, default: float | None = None) -> float:
    value = params.get(key, default)
    if value is None:
        raise QueryError(f"[{key}] is required at {path}")
    if isinstance(value, bool):
        raise QueryError(f"[{key}] at {path} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryError(f"[{key}] at {path} must be a number, got {value!r}") from None


def _integer(params: dict, key: str, path: str, default: int) -> int:
    value = _number(params, key, path, default)
    if value != int(value) or value < 0:
        raise QueryError(f"[{key}] at {path} must be a non-negative integer, got {value!r}")
    return int(value)


def _clauses(spec: Any, path: str) -> list[tuple[Any, str]]:
    if spec is None:
        return []
    if isinstance(spec, list):
        return [(q, f"{path}[{i}]") for i, q in enumerate(spec)]
    return [(spec, path)]


class _Eval:
    """Evaluates one request's query tree against an index snapshot."""

    def __init__(self, ix: _Index, window: int):
        self.ix, self.n, self.window = ix, ix.n, window
        self.named: dict[str, np.ndarray] = {}

    def query(self, q: Any, path: str) -> Result:
        if not isinstance(q, dict) or len(q) != 1:
            raise QueryError(f"query at {path} must be an object with one clause, "
                             f"got {_brief(q)}")
        ((name, spec),) = q.items()
        handler = _CLAUSES.get(name)
        if handler is None:
            raise UnsupportedQuery(f"unsupported query clause {name!r} at {path}")
        return handler(self, spec, f"{path}.{name}")

    def filter(self, spec: Any, path: str) -> np.ndarray:
        """AND of one filter query or a list of them."""
        mask = np.ones(self.n, bool)
        for q, qpath in _clauses(spec, path):
            mask &= self.query(q, qpath)[1]
        return mask

    def finish(self, params: dict, scores: np.ndarray, matched: np.ndarray,
               path: str = "") -> Result:
        """Apply `boost` and record `_name`; scores of unmatched docs are 0."""
        boost = _number(params, "boost", path, 1.0)
        if boost < 0:
            raise QueryError(f"negative [boost] is not allowed at {path}")
        if boost != 1.0:
            scores = scores * np.float32(boost)
        name = params.get("_name")
        if name is not None:
            self.named[str(name)] = matched.copy()
        return scores, matched

    def none(self) -> Result:
        return np.zeros(self.n, np.float32), np.zeros(self.n, bool)

    def constant(self, matched: np.ndarray) -> Result:
        return matched.astype(np.float32), matched

    def part(self, field: str) -> Any:
        return self.ix.fields.get(field)

    # -- term-level -----------------------------------------------------------------

    def term(self, field: str, value: Any, path: str) -> Result:
        """ES `term` on one field: exact (normalized for keywords) value."""
        if field == "_id":
            return self.constant(self.ids_mask([value]))
        part = self.part(field)
        if part is None:
            return self.none()
        if isinstance(part, _Terms):
            text = _query_text(value, path)
            tid = part.term_ids.get(part.normalize(text) if part.kind == "keyword" else text)
            if tid is None:
                return self.none()
            scores, matched = self.none()
            docs, w = part.column(tid)
            scores[docs] = w
            matched[docs] = True
            return scores, matched
        if isinstance(part, _Numeric):
            number = _parse_query_number(value, part.kind, path)
            return self.constant(part.where(lambda v: v == number))
        raise QueryError(f"field [{field}] of type [{part.kind}] does not support term "
                         f"queries at {path}")

    def ids_mask(self, values: list) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        idx = [self.ix.id_to_idx.get(str(v)) for v in values]
        mask[[i for i in idx if i is not None]] = True
        return mask

    # -- full-text ------------------------------------------------------------------

    def match(self, field: str, p: dict, path: str, phrase: bool = False) -> Result:
        """ES `match`/`match_phrase` on one field (params already validated)."""
        if "query" not in p:
            raise QueryError(f"[query] is required at {path}")
        part = self.part(field)
        lenient = bool(p.get("lenient", False))
        if part is None:
            return self.none()
        if isinstance(part, _Numeric):
            try:
                number = _parse_query_number(p["query"], part.kind, path)
            except QueryError:
                if lenient:
                    return self.none()
                raise
            return self.constant(part.where(lambda v: v == number))
        if not isinstance(part, _Terms):
            if lenient:
                return self.none()
            raise QueryError(f"field [{field}] of type [{part.kind}] does not support "
                             f"full-text queries at {path}")
        text = _query_text(p["query"], path)
        if part.kind == "keyword":
            terms = [part.normalize(text)]
        elif "analyzer" in p:
            try:
                terms = analysis.analyzer(p["analyzer"])(text)
            except ValueError as exc:
                raise UnsupportedQuery(f"{exc} at {path}") from None
        else:
            terms = part.analyze(text)
        if not terms:
            zero = p.get("zero_terms_query", "none")
            if zero not in ("none", "all"):
                raise QueryError(f"[zero_terms_query] must be 'none' or 'all' at {path}")
            return self.constant(np.ones(self.n, bool)) if zero == "all" else self.none()
        if phrase and len(terms) > 1:
            return self.phrase(part, terms)
        operator = str(p.get("operator", "or")).lower()
        if operator not in ("or", "and"):
            raise QueryError(f"[operator] must be 'or' or 'and' at {path}")
        required = len(terms) if operator == "and" else max(1, _min_should_match(
            p.get("minimum_should_match", 0), len(terms), path))
        return self.terms_scored(part, terms, required, _fuzzy(p, path))

    def terms_scored(self, part: _Terms, terms: list[str], required: int,
                     fuzzy: _Fuzzy | None) -> Result:
        """Sum of BM25 term scores; a doc matches when >= `required` terms match."""
        scores = np.zeros(self.n, np.float32)
        counts = np.zeros(self.n, np.int32)
        for term in terms:
            expansions = part.expand(term, fuzzy)
            if len(expansions) == 1:
                (tid, mult), = expansions
                docs, w = part.column(tid)
                scores[docs] += w * np.float32(mult) if mult != 1.0 else w
                counts[docs] += 1
            elif expansions:
                best = np.zeros(self.n, np.float32)
                for tid, mult in expansions:
                    docs, w = part.column(tid)
                    best[docs] = np.maximum(best[docs], w * np.float32(mult))
                scores += best
                counts += best > 0
        matched = counts >= required
        scores[~matched] = 0
        return scores, matched

    def phrase(self, part: _Terms, terms: list[str]) -> Result:
        scores, matched = self.none()
        if not isinstance(part, _TextField):  # keyword fields hold one term per value
            return scores, matched
        tids = [part.term_ids.get(t) for t in terms]
        if None in tids:
            return scores, matched
        docs, freq = part.phrase(tids)
        idf = float(sum(part.idf[t] for t in tids))
        scores[docs] = LEGACY_BM25_GAIN * idf * freq / (freq + part.norm[docs])
        matched[docs] = True
        return scores, matched

    # -- vectors --------------------------------------------------------------------

    def knn(self, field: str, vector: Any, k: int, filt: Any, similarity: float | None,
            path: str) -> Result:
        """Exact top-k cosine neighbours (score (1 + cos) / 2) among filtered docs."""
        part = self.part(field)
        if not isinstance(part, _Vectors):
            raise QueryError(f"field [{field}] is not a vector field at {path}")
        try:
            query = np.asarray(vector, np.float32)
        except (TypeError, ValueError):
            raise QueryError(f"query vector at {path} must be a list of numbers") from None
        dims = part.unit.shape[1]
        if query.shape != (dims,):
            raise QueryError(f"query vector at {path} has {query.size} dims, expected {dims}")
        norm = float(np.linalg.norm(query))
        if not math.isfinite(norm) or norm == 0:
            raise QueryError(f"query vector at {path} must be finite and non-zero")
        if k <= 0:
            raise QueryError(f"[k] must be greater than 0 at {path}")
        cos = part.unit @ (query / norm)
        candidates = part.present.copy()
        if filt is not None:
            candidates &= self.filter(filt, f"{path}.filter")
        if similarity is not None:
            candidates &= cos >= similarity
        idx = _top(cos, np.flatnonzero(candidates), k)
        scores, matched = self.none()
        scores[idx] = (1.0 + cos[idx]) / 2.0
        matched[idx] = True
        return scores, matched


def _query_text(value: Any, path: str) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise QueryError(f"expected a string at {path}, got {_brief(value)}")
    return _text(value, path)


def _parse_query_number(value: Any, kind: str, path: str) -> float:
    try:
        return _parse_number(value, kind)
    except QueryError as exc:
        raise type(exc)(f"{exc} at {path}") from None


def _fuzzy(p: dict, path: str) -> _Fuzzy | None:
    fuzziness = p.get("fuzziness")
    if fuzziness in (None, 0, "0"):
        return None
    text = str(fuzziness).upper()
    if not (text in ("1", "2", "AUTO") or re.fullmatch(r"AUTO:\d+,\d+", text)):
        raise UnsupportedQuery(f"fuzziness {fuzziness!r} at {path} "
                               "(supported: 0, 1, 2, AUTO, AUTO:low,high)")
    return _Fuzzy(text, _integer(p, "prefix_length", path, 0),
                  max(1, _integer(p, "max_expansions", path, 50)),
                  bool(p.get("fuzzy_transpositions", True)))


def _top(values: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """The `k` entries of `idx` with the largest `values`, ties to the lowest index."""
    if k <= 0:
        return idx[:0]
    if idx.size <= k:
        return idx
    vals = values[idx]
    kth = np.partition(vals, idx.size - k)[idx.size - k]
    above = idx[vals > kth]
    return np.concatenate([above, idx[vals == kth][: k - above.size]])


# --------------------------------------------------------------------------- clauses

_BOOST = frozenset({"boost", "_name"})
_MATCH = _BOOST | {"query", "operator", "minimum_should_match", "fuzziness", "prefix_length",
                   "max_expansions", "fuzzy_transpositions", "lenient", "zero_terms_query",
                   "analyzer", "auto_generate_synonyms_phrase_query"}
_PHRASE = _BOOST | {"query", "slop", "analyzer", "zero_terms_query"}


def _q_match_all(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "match_all", _BOOST)
    return ev.finish(p, *ev.constant(np.ones(ev.n, bool)), path)


def _q_match_none(ev: _Eval, spec: Any, path: str) -> Result:
    return ev.finish(_params(spec, path, "match_none", _BOOST), *ev.none(), path)


def _q_bool(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "bool", _BOOST | {"must", "should", "filter", "must_not",
                                              "minimum_should_match"})
    must, filters = _clauses(p.get("must"), f"{path}.must"), _clauses(p.get("filter"),
                                                                      f"{path}.filter")
    should, must_not = _clauses(p.get("should"), f"{path}.should"), _clauses(
        p.get("must_not"), f"{path}.must_not")
    if not (must or filters or should or must_not):  # ES: an empty bool is match_all
        return ev.finish(p, *ev.constant(np.ones(ev.n, bool)), path)
    scores = np.zeros(ev.n, np.float32)
    matched = np.ones(ev.n, bool)
    for q, qpath in must:
        s, m = ev.query(q, qpath)
        scores += s
        matched &= m
    for q, qpath in filters:
        matched &= ev.query(q, qpath)[1]
    for q, qpath in must_not:
        matched &= ~ev.query(q, qpath)[1]
    if should:
        counts = np.zeros(ev.n, np.int32)
        for q, qpath in should:
            s, m = ev.query(q, qpath)
            scores += s
            counts += m
        required = _min_should_match(p.get("minimum_should_match", 0), len(should), path)
        if not (must or filters):
            required = max(required, 1)
        if required:
            matched &= counts >= required
    scores[~matched] = 0
    return ev.finish(p, scores, matched, path)


def _q_constant_score(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "constant_score", _BOOST | {"filter"})
    if "filter" not in p:
        raise QueryError(f"[filter] is required at {path}")
    return ev.finish(p, *ev.constant(ev.query(p["filter"], f"{path}.filter")[1]), path)


def _q_dis_max(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "dis_max", _BOOST | {"queries", "tie_breaker"})
    tie = np.float32(_number(p, "tie_breaker", path, 0.0))
    best, total = np.zeros(ev.n, np.float32), np.zeros(ev.n, np.float32)
    matched = np.zeros(ev.n, bool)
    for q, qpath in _clauses(p.get("queries"), f"{path}.queries"):
        s, m = ev.query(q, qpath)
        np.maximum(best, s, out=best)
        total += s
        matched |= m
    return ev.finish(p, best + tie * (total - best), matched, path)


def _q_term(ev: _Eval, spec: Any, path: str) -> Result:
    field, p, fpath = _single_field(spec, path, "term", _BOOST | {"value"}, "value")
    if "value" not in p:
        raise QueryError(f"[value] is required at {fpath}")
    return ev.finish(p, *ev.term(field, p["value"], fpath), fpath)


def _q_terms(ev: _Eval, spec: Any, path: str) -> Result:
    if not isinstance(spec, dict):
        raise QueryError(f"[terms] at {path} must be an object")
    fields = [k for k in spec if k not in _BOOST]
    if len(fields) != 1 or not isinstance(spec[fields[0]], list):
        raise UnsupportedQuery(f"[terms] at {path} needs one field with a list of values "
                               "(terms lookup is not supported)")
    field = fields[0]
    matched = np.zeros(ev.n, bool)
    if field == "_id":
        matched = ev.ids_mask(spec[field])
    else:
        for value in spec[field]:
            matched |= ev.term(field, value, f"{path}.{field}")[1]
    return ev.finish(spec, *ev.constant(matched), path)


def _q_range(ev: _Eval, spec: Any, path: str) -> Result:
    field, p, fpath = _single_field(
        spec, path, "range", _BOOST | {"gt", "gte", "lt", "lte", "format"}, "")
    if "" in p:
        raise QueryError(f"[range] at {fpath} needs an object of bounds")
    part = ev.part(field)
    if part is None:
        return ev.finish(p, *ev.none(), fpath)
    if not isinstance(part, _Numeric):
        raise UnsupportedQuery(f"range on a [{part.kind}] field at {fpath}")
    if part.kind == "date" and "format" in p:
        known = {"yyyy-MM-dd", "yyyy", "yyyy-MM", "strict_date_optional_time", "date",
                 "date_optional_time", "strict_date", "epoch_millis"}
        if not set(str(p["format"]).split("||")) <= known:
            raise UnsupportedQuery(f"range format {p['format']!r} at {fpath}")
    bounds = {}
    for op in ("gt", "gte", "lt", "lte"):
        if p.get(op) is not None:
            value = p[op]
            if part.kind == "date":
                bounds[op] = _parse_date(value, round_up=op in ("gt", "lte"))
            else:
                bounds[op] = _parse_query_number(value, part.kind, fpath)

    def test(v: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(v)
        for op, bound in bounds.items():
            ok &= {"gt": v > bound, "gte": v >= bound, "lt": v < bound, "lte": v <= bound}[op]
        return ok

    return ev.finish(p, *ev.constant(part.where(test)), fpath)


def _q_exists(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "exists", _BOOST | {"field"})
    field = p.get("field")
    if not isinstance(field, str):
        raise QueryError(f"[field] is required at {path}")
    part = ev.part(field)
    head, _, key = field.partition(".")
    if part is None and isinstance(ev.part(head), _Features):
        matched = np.zeros(ev.n, bool)
        features = ev.part(head)
        if key in features:
            matched[features[key][0]] = True
    else:
        matched = np.zeros(ev.n, bool) if part is None else part.present.copy()
    return ev.finish(p, *ev.constant(matched), path)


def _q_ids(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "ids", _BOOST | {"values"})
    if not isinstance(p.get("values"), list):
        raise QueryError(f"[values] must be a list at {path}")
    return ev.finish(p, *ev.constant(ev.ids_mask(p["values"])), path)


def _q_match(ev: _Eval, spec: Any, path: str) -> Result:
    field, p, fpath = _single_field(spec, path, "match", _MATCH, "query")
    return ev.finish(p, *ev.match(field, p, fpath), fpath)


def _q_match_phrase(ev: _Eval, spec: Any, path: str) -> Result:
    field, p, fpath = _single_field(spec, path, "match_phrase", _PHRASE, "query")
    if p.get("slop", 0):
        raise UnsupportedQuery(f"match_phrase with slop > 0 at {fpath}")
    return ev.finish(p, *ev.match(field, p, fpath, phrase=True), fpath)


def _q_multi_match(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "multi_match", _MATCH | {"fields", "type", "tie_breaker", "slop"})
    kind = p.get("type", "best_fields")
    if kind not in ("best_fields", "most_fields", "phrase"):
        raise UnsupportedQuery(f"multi_match type {kind!r} at {path} "
                               "(supported: best_fields, most_fields, phrase)")
    if kind == "phrase" and p.get("slop", 0) or kind != "phrase" and "slop" in p:
        raise UnsupportedQuery(f"multi_match slop at {path}")
    fields = p.get("fields")
    if not isinstance(fields, list) or not fields:
        raise UnsupportedQuery(f"multi_match without a [fields] list at {path}")
    inner = {k: v for k, v in p.items() if k in _MATCH - _BOOST}
    tie = np.float32(1.0 if kind == "most_fields" else _number(p, "tie_breaker", path, 0.0))
    best, total = np.zeros(ev.n, np.float32), np.zeros(ev.n, np.float32)
    matched = np.zeros(ev.n, bool)
    for field, boost, lenient in _expand_fields(ev, fields, path):
        s, m = ev.match(field, {**inner, "lenient": lenient or inner.get("lenient", False)},
                        f"{path}.fields", phrase=kind == "phrase")
        if boost != 1.0:
            s = s * np.float32(boost)
        np.maximum(best, s, out=best)
        total += s
        matched |= m
    return ev.finish(p, best + tie * (total - best), matched, path)


def _expand_fields(ev: _Eval, fields: list, path: str) -> list[tuple[str, float, bool]]:
    """`["name^3", "artist*"]` → (field, boost, lenient); wildcards are lenient like ES."""
    out = []
    for entry in fields:
        name, _, boost = str(entry).partition("^")
        try:
            weight = float(boost) if boost else 1.0
        except ValueError:
            raise QueryError(f"invalid field boost {entry!r} at {path}") from None
        if "*" in name:
            out += [(f, weight, True) for f in ev.ix.fields if fnmatchcase(f, name)
                    and isinstance(ev.ix.fields[f], (_Terms, _Numeric))]
        else:
            out.append((name, weight, False))
    return out


_FUNCTIONS = ("field_value_factor", "random_score", "gauss", "exp", "linear")
_FS = _BOOST | {"query", "functions", "score_mode", "boost_mode", "max_boost", "min_score",
                "weight", *_FUNCTIONS}


def _q_function_score(ev: _Eval, spec: Any, path: str) -> Result:
    p = _params(spec, path, "function_score", _FS)
    scores, matched = ev.query(p.get("query", {"match_all": {}}), f"{path}.query")
    shorthand = {k: p[k] for k in ("weight", *_FUNCTIONS) if k in p}
    if shorthand and "functions" in p:
        raise QueryError(f"function_score at {path} has both [functions] and a function")
    functions = _clauses([shorthand] if shorthand else p.get("functions", []),
                         f"{path}.functions")
    score_mode = p.get("score_mode", "multiply")
    boost_mode = p.get("boost_mode", "multiply") if functions else "multiply"
    if score_mode not in ("multiply", "sum", "avg", "first", "max", "min"):
        raise QueryError(f"illegal score_mode {score_mode!r} at {path}")
    if boost_mode not in ("multiply", "replace", "sum", "avg", "max", "min"):
        raise QueryError(f"illegal boost_mode {boost_mode!r} at {path}")
    values = np.full((len(functions), ev.n), np.nan)  # NaN: function does not apply
    weights = np.zeros((len(functions), ev.n))
    with np.errstate(all="ignore"):
        for j, (fn, fpath) in enumerate(functions):
            fp = _params(fn, fpath, "function", frozenset({"filter", "weight", *_FUNCTIONS}))
            applies = matched.copy()
            if "filter" in fp:
                applies &= ev.query(fp["filter"], f"{fpath}.filter")[1]
            weight = _number(fp, "weight", fpath, 1.0)
            value = _function_value(ev, fp, fpath, applies) * weight
            values[j] = np.where(applies, value, np.nan)
            weights[j] = np.where(applies, weight, 0.0)
        factor = _score_mode(values, weights, score_mode)
        factor = np.minimum(factor, _number(p, "max_boost", path, np.finfo(np.float32).max))
        q = scores.astype(np.float64)
        combined = {"multiply": q * factor, "replace": factor, "sum": q + factor,
                    "avg": (q + factor) / 2, "max": np.maximum(q, factor),
                    "min": np.minimum(q, factor)}[boost_mode]
    if "min_score" in p:
        matched = matched & (combined >= _number(p, "min_score", path))
    out = np.where(matched, combined, 0.0).astype(np.float32)
    return ev.finish(p, out, matched, path)


def _score_mode(values: np.ndarray, weights: np.ndarray, mode: str) -> np.ndarray:
    """ES score_mode over the functions applying to each doc (NaN rows = not applying).

    A doc no function applies to gets 1; `avg` is weighted: Σ f·w / Σ w.
    """
    if not len(values):
        return np.ones(values.shape[1])
    applies = ~np.isnan(values)
    if mode == "multiply":
        out = np.nanprod(values, axis=0)
    elif mode == "sum":
        out = np.nansum(values, axis=0)
    elif mode == "avg":
        wsum = weights.sum(axis=0)
        out = np.where(wsum == 0, 1.0, np.nansum(values, axis=0) / np.where(wsum == 0, 1, wsum))
    elif mode == "max":
        out = np.fmax.reduce(values, axis=0)
    elif mode == "min":
        out = np.fmin.reduce(values, axis=0)
    else:  # first
        out = values[applies.argmax(axis=0), np.arange(values.shape[1])]
    return np.where(applies.any(axis=0), out, 1.0)


def _function_value(ev: _Eval, fp: dict, path: str, applies: np.ndarray) -> np.ndarray:
    kinds = [k for k in _FUNCTIONS if k in fp]
    if len(kinds) > 1:
        raise QueryError(f"function at {path} has more than one function: {kinds}")
    if not kinds:
        return np.ones(ev.n)  # weight-only
    kind = kinds[0]
    spec, fpath = fp[kind], f"{path}.{kind}"
    if kind == "field_value_factor":
        return _field_value_factor(ev, spec, fpath, applies)
    if kind == "random_score":
        return _random_score(ev, spec, fpath)
    return _decay(ev, kind, spec, fpath)


_MODIFIERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda v: v, "log": np.log10, "log1p": lambda v: np.log10(v + 1),
    "log2p": lambda v: np.log10(v + 2), "ln": np.log, "ln1p": np.log1p,
    "ln2p": lambda v: np.log(v + 2), "square": np.square, "sqrt": np.sqrt,
    "reciprocal": lambda v: 1.0 / v,
}


def _field_value_factor(ev: _Eval, spec: Any, path: str, applies: np.ndarray) -> np.ndarray:
    p = _params(spec, path, "field_value_factor", frozenset(
        {"field", "factor", "modifier", "missing"}))
    field, modifier = p.get("field"), p.get("modifier", "none")
    if modifier not in _MODIFIERS:
        raise QueryError(f"illegal modifier {modifier!r} at {path}")
    part = ev.part(field) if isinstance(field, str) else None
    missing = _number(p, "missing", path) if p.get("missing") is not None else None
    if part is None and missing is None:
        raise QueryError(f"unable to find a numeric field [{field}] at {path}; "
                         "no 'missing' value defined")
    if part is not None and not isinstance(part, _Numeric):
        raise QueryError(f"field_value_factor needs a numeric field, [{field}] is "
                         f"[{part.kind}] at {path}")
    values = part.dense if part is not None else np.full(ev.n, np.nan)
    if missing is not None:
        values = np.where(np.isnan(values), missing, values)
    elif np.isnan(values[applies]).any():
        raise QueryError(f"missing value for field [{field}] at {path} (set 'missing')")
    result = _MODIFIERS[modifier](_number(p, "factor", path, 1.0) * values)
    bad = applies & ~(np.isfinite(result) & (result >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QueryError(f"field_value_factor at {path} must produce a non-negative number, "
                         f"got {result[i]} for field value {values[i]}")
    return result


def _random_score(ev: _Eval, spec: Any, path: str) -> np.ndarray:
    p = _params(spec, path, "random_score", frozenset({"seed", "field"}))
    if p.get("field", "_seq_no") not in ("_seq_no", "_id", "id"):
        raise UnsupportedQuery(f"random_score field {p['field']!r} at {path} "
                               "(supported: _seq_no, _id, id)")
    seed = _hash64(str(p["seed"])) if "seed" in p else secrets.randbits(64)
    return _uniform(ev.ix.id_hash, seed)


def _decay(ev: _Eval, kind: str, spec: Any, path: str) -> np.ndarray:
    if not isinstance(spec, dict):
        raise QueryError(f"[{kind}] at {path} must be an object")
    mode = spec.get("multi_value_mode", "min")
    fields = [k for k in spec if k != "multi_value_mode"]
    if len(fields) != 1 or mode not in ("min", "max", "avg", "sum"):
        raise QueryError(f"[{kind}] at {path} needs one field and a valid multi_value_mode")
    field = fields[0]
    fpath = f"{path}.{field}"
    p = _params(spec[field], fpath, kind, frozenset({"origin", "scale", "offset", "decay"}))
    part = ev.part(field)
    if not isinstance(part, _Numeric):
        raise QueryError(f"[{kind}] needs a numeric or date field, got [{field}] at {fpath}")
    if part.kind == "date":
        origin = _parse_date(p["origin"]) if "origin" in p else time.time() * 1000.0
        scale = _time_value(p.get("scale"), fpath)
        offset = _time_value(p["offset"], fpath) if "offset" in p else 0.0
    else:
        origin = _number(p, "origin", fpath)
        scale, offset = _number(p, "scale", fpath), _number(p, "offset", fpath, 0.0)
    decay = _number(p, "decay", fpath, 0.5)
    if not 0 < decay < 1 or scale <= 0 or offset < 0:
        raise QueryError(f"[{kind}] at {fpath}: need 0 < decay < 1, scale > 0, offset >= 0")
    distance = part.reduce(lambda v: np.maximum(0.0, np.abs(v - origin) - offset), mode)
    if kind == "gauss":
        sigma2 = -scale**2 / (2 * math.log(decay))
        value = np.exp(-(distance**2) / (2 * sigma2))
    elif kind == "exp":
        value = np.exp(math.log(decay) / scale * distance)
    else:
        s = scale / (1 - decay)
        value = np.maximum(0.0, (s - distance) / s)
    return np.where(np.isnan(distance), 1.0, value)  # ES: a missing field decays to 1


def _q_rank_feature(ev: _Eval, spec: Any, path: str) -> Result:
    fns = ("saturation", "log", "sigmoid", "linear")
    p = _params(spec, path, "rank_feature", _BOOST | {"field", *fns})
    field = p.get("field")
    if not isinstance(field, str):
        raise QueryError(f"[field] is required at {path}")
    head, _, key = field.partition(".")
    part = ev.part(head)
    if part is None:
        return ev.finish(p, *ev.none(), path)
    if not isinstance(part, _Features) or not key:
        raise QueryError(f"rank_feature needs a rank_features field and key "
                         f"('{head}.<key>'), got [{field}] at {path}")
    chosen = [f for f in fns if f in p] or ["saturation"]
    if len(chosen) > 1:
        raise QueryError(f"rank_feature at {path} accepts one function, got {chosen}")
    fn = chosen[0]
    fp = _params(p.get(fn, {}), f"{path}.{fn}", fn, frozenset({"pivot", "scaling_factor",
                                                               "exponent"}))
    scores, matched = ev.none()
    if key not in part:
        return ev.finish(p, scores, matched, path)
    docs, vals = part[key]
    v = vals.astype(np.float64)
    if fn == "saturation":
        pivot = _number(fp, "pivot", path, part.pivot(key))
        value = v / (v + pivot)
    elif fn == "log":
        value = np.log(_number(fp, "scaling_factor", f"{path}.log") + v)
    elif fn == "sigmoid":
        pivot, a = _number(fp, "pivot", f"{path}.sigmoid"), _number(fp, "exponent",
                                                                      f"{path}.sigmoid")
        value = v**a / (v**a + pivot**a)
    else:
        value = v
    scores[docs] = value
    matched[docs] = True
    return ev.finish(p, scores, matched, path)


_KNN_ES = _BOOST | {"field", "query_vector", "k", "num_candidates", "filter", "similarity"}


def _q_knn(ev: _Eval, spec: Any, path: str) -> Result:
    if isinstance(spec, dict) and ("field" in spec or "query_vector" in spec):
        return _knn_es(ev, spec, path, default_k=None)
    field, p, fpath = _single_field(spec, path, "knn", _BOOST | {"vector", "k", "filter"},
                                    "vector")
    if "vector" not in p or "k" not in p:
        raise QueryError(f"[vector] and [k] are required at {fpath}")
    k = _integer(p, "k", fpath, 0)
    return ev.finish(p, *ev.knn(field, p["vector"], k, p.get("filter"), None, fpath), fpath)


def _knn_es(ev: _Eval, spec: Any, path: str, default_k: int | None) -> Result:
    """ES knn (query clause: default k = num_candidates; top-level: default k = size)."""
    p = _params(spec, path, "knn", _KNN_ES)
    if "field" not in p or "query_vector" not in p:
        raise QueryError(f"[field] and [query_vector] are required at {path}")
    k = _integer(p, "k", path, 0) if "k" in p else None
    base = k or default_k or max(1, ev.window)
    num_candidates = _integer(p, "num_candidates", path, min(10_000, math.ceil(1.5 * base)))
    if k is None:
        k = default_k if default_k is not None else num_candidates
    if num_candidates < k:
        raise QueryError(f"[num_candidates] cannot be less than [k] at {path}")
    similarity = _number(p, "similarity", path) if "similarity" in p else None
    return ev.finish(p, *ev.knn(p["field"], p["query_vector"], k, p.get("filter"),
                                similarity, path), path)


_CLAUSES: dict[str, Callable[[_Eval, Any, str], Result]] = {
    "match_all": _q_match_all,
    "match_none": _q_match_none,
    "bool": _q_bool,
    "constant_score": _q_constant_score,
    "dis_max": _q_dis_max,
    "term": _q_term,
    "terms": _q_terms,
    "range": _q_range,
    "exists": _q_exists,
    "ids": _q_ids,
    "match": _q_match,
    "match_phrase": _q_match_phrase,
    "multi_match": _q_multi_match,
    "function_score": _q_function_score,
    "rank_feature": _q_rank_feature,
    "knn": _q_knn,
}


# --------------------------------------------------------------------------- _source


@dataclass(frozen=True)
class _SourceFilter:
    includes: tuple[str, ...] | None
    excludes: tuple[str, ...]
    with_vector: bool

    @classmethod
    def parse(cls, spec: Any, vector_field: str) -> "_SourceFilter | None":
        """None means "no _source in hits" (`_source: false`)."""
        if spec is False:
            return None
        includes: Any = None
        excludes: Any = ()
        if isinstance(spec, str):
            includes = [spec]
        elif isinstance(spec, list):
            includes = spec
        elif isinstance(spec, dict):
            _params(spec, "_source", "_source",
                    frozenset({"includes", "excludes", "include", "exclude"}))
            includes = spec.get("includes", spec.get("include"))
            excludes = spec.get("excludes", spec.get("exclude", ()))
        elif spec not in (None, True):
            raise QueryError(f"invalid _source {_brief(spec)}")
        includes = [includes] if isinstance(includes, str) else includes
        excludes = [excludes] if isinstance(excludes, str) else excludes
        if not all(isinstance(x, str) for x in [*(includes or ()), *excludes]):
            raise QueryError(f"invalid _source {_brief(spec)}")
        inc = tuple(includes) if includes else None
        with_vector = bool(inc and vector_field in inc and not any(
            fnmatchcase(vector_field, x) for x in excludes))
        return cls(inc, tuple(excludes), with_vector)

    def apply(self, source: dict) -> dict:
        """A filtered copy (nested objects copied too: callers may mutate hits)."""
        if _plain(self.includes) and _plain(self.excludes):
            # the arms' case: a list of top-level names; fnmatch per field costs 10× more
            keys = source.keys() if self.includes is None else (k for k in self.includes if k in source)
            return {k: _copy(source[k]) for k in keys if k not in self.excludes}
        return _pick(source, self.includes, self.excludes, "")


def _plain(patterns: tuple[str, ...] | None) -> bool:
    """No wildcards and no dotted paths: fields can be picked by name."""
    return patterns is None or not any(set(p) & set("*?[.") for p in patterns)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return list(value) if isinstance(value, list) else value


def _pick(obj: dict, inc: tuple[str, ...] | None, exc: tuple[str, ...], prefix: str) -> dict:
    out = {}
    for key, value in obj.items():
        path = prefix + key
        if any(fnmatchcase(path, x) for x in exc):
            continue
        if inc is None or any(fnmatchcase(path, x) for x in inc):
            out[key] = _pick(value, None, exc, path + ".") if isinstance(
                value, dict) else list(value) if isinstance(value, list) else value
        elif isinstance(value, dict) and any("." in x for x in inc):
            sub = _pick(value, inc, exc, path + ".")
            if sub:
                out[key] = sub
    return out


# --------------------------------------------------------------------------- engine

_BODY_KEYS = frozenset({"query", "knn", "size", "from", "_source", "min_score", "sort",
                        "track_total_hits", "timeout"})


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

    def __init__(self, schema: Schema = MUSIC, index_name: str = "ltrr"):
        self.schema = schema
        self.index_name = index_name
        for _, f, _ in _schema_paths(schema):  # fail at construction on unknown analysis
            if f.kind == "text":
                analysis.analyzer(f.analyzer or "standard")
            _normalizer(f.normalizer if f.kind == "keyword" else None)
        self._ix = _Index.build(schema, [])

    # -- Engine protocol ------------------------------------------------------------

    def index(self, docs: Iterable[dict], progress: Callable[[int], None] | None = None) -> int:
        """Replace the corpus with `docs` (a full rebuild); returns the number indexed."""
        self._ix = _Index.build(self.schema, docs, progress)
        return self._ix.n

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
        filt = _SourceFilter.parse(source, self.schema.vector_field)
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
            raise QueryError(f"a search body must be an object, got {_brief(body)}")
        for key in body:
            if key not in _BODY_KEYS:
                raise UnsupportedQuery(f"unsupported search body key {key!r} at {key}")
        p = body
        size, start = _integer(p, "size", "size", 10), _integer(p, "from", "from", 0)
        if size + start > MAX_RESULT_WINDOW:
            raise QueryError(f"Result window is too large, from + size must be less than or "
                             f"equal to [{MAX_RESULT_WINDOW}]")
        _check_sort(p.get("sort"))
        source = _SourceFilter.parse(p.get("_source"), self.schema.vector_field)
        ev = _Eval(ix, size + start)
        with np.errstate(all="ignore"):
            if "query" in p:
                scores, matched = ev.query(p["query"], "query")
            elif "knn" in p:
                scores, matched = ev.none()
            else:
                scores, matched = ev.constant(np.ones(ix.n, bool))
            for spec, kpath in _clauses(p.get("knn"), "knn"):
                s, m = _knn_es(ev, spec, kpath, default_k=max(size, 1))
                scores, matched = scores + s, matched | m
        if "min_score" in p:
            matched = matched & (scores >= _number(p, "min_score", "min_score"))
        idx = np.flatnonzero(matched)
        total = int(idx.size)
        top = _top(scores, idx, size + start)
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

    def _source(self, ix: _Index, i: int, filt: _SourceFilter) -> dict:
        out = filt.apply(ix.sources[i])
        vectors = ix.fields.get(self.schema.vector_field)
        if filt.with_vector and isinstance(vectors, _Vectors) and vectors.present[i]:
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
        engine._ix = _Index.load(schema, Path(path))
        return engine


def _check_sort(sort: Any) -> None:
    for entry, path in _clauses(sort, "sort"):
        if entry == "_score" or entry in ({"_score": "desc"}, {"_score": {"order": "desc"}}):
            continue
        raise UnsupportedQuery(f"unsupported sort {_brief(entry)} at {path} "
                               "(only _score descending)")
