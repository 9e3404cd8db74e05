"""The query evaluator: one request's query tree over a snapshot, every clause giving
`(scores, matched)` over the whole corpus. The clause functions live in `clauses`."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from es_ltrr.common import analysis
from es_ltrr.retrieval.engines.base import QueryError, UnsupportedQuery

from .ann import nearest
from .clauses import CLAUSES
from .fields import Features, Fuzzy, Numeric, Terms, TextField, Vectors
from .lucene import LEGACY_BM25_GAIN
from .params import brief, clause_list, param_int, param_number, query_number, query_text
from .protocol import Result
from .snapshot import Snapshot
from .values import min_should_match


class Eval:
    """Evaluates one request's query tree against an index snapshot."""

    def __init__(self, ix: Snapshot, window: int):
        self.ix, self.n, self.window = ix, ix.n, window
        self.named: dict[str, np.ndarray] = {}

    def query(self, q: Any, path: str) -> Result:
        if not isinstance(q, dict) or len(q) != 1:
            raise QueryError(f"query at {path} must be an object with one clause, "
                             f"got {brief(q)}")
        ((name, spec),) = q.items()
        handler = CLAUSES.get(name)
        if handler is None:
            raise UnsupportedQuery(f"unsupported query clause {name!r} at {path}")
        return handler(self, spec, f"{path}.{name}")

    def filter(self, spec: Any, path: str) -> np.ndarray:
        """AND of one filter query or a list of them."""
        mask = np.ones(self.n, bool)
        for q, qpath in clause_list(spec, path):
            mask &= self.query(q, qpath)[1]
        return mask

    def finish(self, params: dict, scores: np.ndarray, matched: np.ndarray,
               path: str = "") -> Result:
        """Apply `boost` and record `_name`; scores of unmatched docs are 0."""
        boost = param_number(params, "boost", path, 1.0)
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
        if isinstance(part, Terms):
            text = query_text(value, path)
            tid = part.term_ids.get(part.normalize(text) if part.kind == "keyword" else text)
            if tid is None:
                return self.none()
            scores, matched = self.none()
            docs, w = part.column(tid)
            scores[docs] = w
            matched[docs] = True
            return scores, matched
        if isinstance(part, Numeric):
            number = query_number(value, part.kind, path)
            return self.constant(part.where(lambda v: v == number))
        if isinstance(part, Features):
            # as Elasticsearch's sparse_vector (and 8.x rank_features): the key's stored value,
            # scored like `rank_feature` with `linear` (the Q2E memory without mapper-extras)
            scores, matched = self.none()
            key = query_text(value, path)
            if key in part:
                docs, vals = part[key]
                scores[docs] = vals
                matched[docs] = True
            return scores, matched
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
        if isinstance(part, Numeric):
            try:
                number = query_number(p["query"], part.kind, path)
            except QueryError:
                if lenient:
                    return self.none()
                raise
            return self.constant(part.where(lambda v: v == number))
        if not isinstance(part, Terms):
            if lenient:
                return self.none()
            raise QueryError(f"field [{field}] of type [{part.kind}] does not support "
                             f"full-text queries at {path}")
        text = query_text(p["query"], path)
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
        required = len(terms) if operator == "and" else max(1, min_should_match(
            p.get("minimum_should_match", 0), len(terms), path))
        return self.terms_scored(part, terms, required, _fuzzy(p, path))

    def terms_scored(self, part: Terms, terms: list[str], required: int,
                     fuzzy: Fuzzy | None) -> Result:
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
        if required > 1:  # with one required term every scored doc matched (weights are > 0)
            scores[~matched] = 0
        return scores, matched

    def phrase(self, part: Terms, terms: list[str]) -> Result:
        scores, matched = self.none()
        if not isinstance(part, TextField):  # keyword fields hold one term per value
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
        """Top-k cosine neighbours (score (1 + cos) / 2) among filtered docs: from the
        field's graph when it has one (`ann`), else exact."""
        part = self.part(field)
        if not isinstance(part, Vectors):
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
        allowed = None if filt is None else self.filter(filt, f"{path}.filter")
        idx, cos = nearest(part.unit, part.present, part.ann, query / norm, k, allowed)
        if similarity is not None:
            idx, cos = idx[cos >= similarity], cos[cos >= similarity]
        scores, matched = self.none()
        scores[idx] = (1.0 + cos) / 2.0
        matched[idx] = True
        return scores, matched


def _fuzzy(p: dict, path: str) -> Fuzzy | None:
    fuzziness = p.get("fuzziness")
    if fuzziness in (None, 0, "0"):
        return None
    text = str(fuzziness).upper()
    if not (text in ("1", "2", "AUTO") or re.fullmatch(r"AUTO:\d+,\d+", text)):
        raise UnsupportedQuery(f"fuzziness {fuzziness!r} at {path} "
                               "(supported: 0, 1, 2, AUTO, AUTO:low,high)")
    return Fuzzy(text, param_int(p, "prefix_length", path, 0),
                  max(1, param_int(p, "max_expansions", path, 50)),
                  bool(p.get("fuzzy_transpositions", True)))


def top_k(values: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """The `k` entries of `idx` with the largest `values`, ties to the lowest index."""
    if k <= 0:
        return idx[:0]
    if idx.size <= k:
        return idx
    vals = values[idx]
    kth = np.partition(vals, idx.size - k)[idx.size - k]
    above = idx[vals > kth]
    return np.concatenate([above, idx[vals == kth][: k - above.size]])
