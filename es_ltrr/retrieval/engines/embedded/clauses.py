"""One short function per query clause, and the dispatch table (`CLAUSES`) the evaluator uses.

`function_score` and its functions live in `function_score`."""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from typing import Any, Callable

import numpy as np

from es_ltrr.retrieval.engines.base import QueryError, UnsupportedQuery

from .fields import Features, Numeric, Terms
from .function_score import q_function_score
from .params import BOOST, check_params, clause_list, param_int, param_number, query_number, single_field
from .protocol import Evaluator, Result
from .values import min_should_match, parse_date

_MATCH = BOOST | {"query", "operator", "minimum_should_match", "fuzziness", "prefix_length",
                   "max_expansions", "fuzzy_transpositions", "lenient", "zero_terms_query",
                   "analyzer", "auto_generate_synonyms_phrase_query"}
_PHRASE = BOOST | {"query", "slop", "analyzer", "zero_terms_query"}


def _q_match_all(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "match_all", BOOST)
    return ev.finish(p, *ev.constant(np.ones(ev.n, bool)), path)


def _q_match_none(ev: Evaluator, spec: Any, path: str) -> Result:
    return ev.finish(check_params(spec, path, "match_none", BOOST), *ev.none(), path)


def _q_bool(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "bool", BOOST | {"must", "should", "filter", "must_not",
                                              "minimum_should_match"})
    must, filters = clause_list(p.get("must"), f"{path}.must"), clause_list(p.get("filter"),
                                                                      f"{path}.filter")
    should, must_not = clause_list(p.get("should"), f"{path}.should"), clause_list(
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
        required = min_should_match(p.get("minimum_should_match", 0), len(should), path)
        if not (must or filters):
            required = max(required, 1)
        if required:
            matched &= counts >= required
    scores[~matched] = 0
    return ev.finish(p, scores, matched, path)


def _q_constant_score(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "constant_score", BOOST | {"filter"})
    if "filter" not in p:
        raise QueryError(f"[filter] is required at {path}")
    return ev.finish(p, *ev.constant(ev.query(p["filter"], f"{path}.filter")[1]), path)


def _q_dis_max(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "dis_max", BOOST | {"queries", "tie_breaker"})
    tie = np.float32(param_number(p, "tie_breaker", path, 0.0))
    best, total = np.zeros(ev.n, np.float32), np.zeros(ev.n, np.float32)
    matched = np.zeros(ev.n, bool)
    for q, qpath in clause_list(p.get("queries"), f"{path}.queries"):
        s, m = ev.query(q, qpath)
        np.maximum(best, s, out=best)
        total += s
        matched |= m
    return ev.finish(p, best + tie * (total - best), matched, path)


def _q_term(ev: Evaluator, spec: Any, path: str) -> Result:
    field, p, fpath = single_field(spec, path, "term", BOOST | {"value"}, "value")
    if "value" not in p:
        raise QueryError(f"[value] is required at {fpath}")
    return ev.finish(p, *ev.term(field, p["value"], fpath), fpath)


def _q_terms(ev: Evaluator, spec: Any, path: str) -> Result:
    if not isinstance(spec, dict):
        raise QueryError(f"[terms] at {path} must be an object")
    fields = [k for k in spec if k not in BOOST]
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


def _q_range(ev: Evaluator, spec: Any, path: str) -> Result:
    field, p, fpath = single_field(
        spec, path, "range", BOOST | {"gt", "gte", "lt", "lte", "format"}, "")
    if "" in p:
        raise QueryError(f"[range] at {fpath} needs an object of bounds")
    part = ev.part(field)
    if part is None:
        return ev.finish(p, *ev.none(), fpath)
    if not isinstance(part, Numeric):
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
                bounds[op] = parse_date(value, round_up=op in ("gt", "lte"))
            else:
                bounds[op] = query_number(value, part.kind, fpath)

    def test(v: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(v)
        for op, bound in bounds.items():
            ok &= {"gt": v > bound, "gte": v >= bound, "lt": v < bound, "lte": v <= bound}[op]
        return ok

    return ev.finish(p, *ev.constant(part.where(test)), fpath)


def _q_exists(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "exists", BOOST | {"field"})
    field = p.get("field")
    if not isinstance(field, str):
        raise QueryError(f"[field] is required at {path}")
    part = ev.part(field)
    head, _, key = field.partition(".")
    if part is None and isinstance(ev.part(head), Features):
        matched = np.zeros(ev.n, bool)
        features = ev.part(head)
        if key in features:
            matched[features[key][0]] = True
    else:
        matched = np.zeros(ev.n, bool) if part is None else part.present.copy()
    return ev.finish(p, *ev.constant(matched), path)


def _q_ids(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "ids", BOOST | {"values"})
    if not isinstance(p.get("values"), list):
        raise QueryError(f"[values] must be a list at {path}")
    return ev.finish(p, *ev.constant(ev.ids_mask(p["values"])), path)


def _q_match(ev: Evaluator, spec: Any, path: str) -> Result:
    field, p, fpath = single_field(spec, path, "match", _MATCH, "query")
    return ev.finish(p, *ev.match(field, p, fpath), fpath)


def _q_match_phrase(ev: Evaluator, spec: Any, path: str) -> Result:
    field, p, fpath = single_field(spec, path, "match_phrase", _PHRASE, "query")
    if p.get("slop", 0):
        raise UnsupportedQuery(f"match_phrase with slop > 0 at {fpath}")
    return ev.finish(p, *ev.match(field, p, fpath, phrase=True), fpath)


def _q_multi_match(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "multi_match", _MATCH | {"fields", "type", "tie_breaker", "slop"})
    kind = p.get("type", "best_fields")
    if kind not in ("best_fields", "most_fields", "phrase"):
        raise UnsupportedQuery(f"multi_match type {kind!r} at {path} "
                               "(supported: best_fields, most_fields, phrase)")
    if kind == "phrase" and p.get("slop", 0) or kind != "phrase" and "slop" in p:
        raise UnsupportedQuery(f"multi_match slop at {path}")
    fields = p.get("fields")
    if not isinstance(fields, list) or not fields:
        raise UnsupportedQuery(f"multi_match without a [fields] list at {path}")
    inner = {k: v for k, v in p.items() if k in _MATCH - BOOST}
    tie = np.float32(1.0 if kind == "most_fields" else param_number(p, "tie_breaker", path, 0.0))
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


def _expand_fields(ev: Evaluator, fields: list, path: str) -> list[tuple[str, float, bool]]:
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
                    and isinstance(ev.ix.fields[f], (Terms, Numeric))]
        else:
            out.append((name, weight, False))
    return out


def _q_rank_feature(ev: Evaluator, spec: Any, path: str) -> Result:
    fns = ("saturation", "log", "sigmoid", "linear")
    p = check_params(spec, path, "rank_feature", BOOST | {"field", *fns})
    field = p.get("field")
    if not isinstance(field, str):
        raise QueryError(f"[field] is required at {path}")
    head, _, key = field.partition(".")
    part = ev.part(head)
    if part is None:
        return ev.finish(p, *ev.none(), path)
    if not isinstance(part, Features) or not key:
        raise QueryError(f"rank_feature needs a rank_features field and key "
                         f"('{head}.<key>'), got [{field}] at {path}")
    chosen = [f for f in fns if f in p] or ["saturation"]
    if len(chosen) > 1:
        raise QueryError(f"rank_feature at {path} accepts one function, got {chosen}")
    fn = chosen[0]
    fp = check_params(p.get(fn, {}), f"{path}.{fn}", fn, frozenset({"pivot", "scaling_factor",
                                                               "exponent"}))
    scores, matched = ev.none()
    if key not in part:
        return ev.finish(p, scores, matched, path)
    docs, vals = part[key]
    v = vals.astype(np.float64)
    if fn == "saturation":
        pivot = param_number(fp, "pivot", path, part.pivot(key))
        value = v / (v + pivot)
    elif fn == "log":
        value = np.log(param_number(fp, "scaling_factor", f"{path}.log") + v)
    elif fn == "sigmoid":
        pivot, a = param_number(fp, "pivot", f"{path}.sigmoid"), param_number(fp, "exponent",
                                                                      f"{path}.sigmoid")
        value = v**a / (v**a + pivot**a)
    else:
        value = v
    scores[docs] = value
    matched[docs] = True
    return ev.finish(p, scores, matched, path)


_KNN_ES = BOOST | {"field", "query_vector", "k", "num_candidates", "filter", "similarity"}


def _q_knn(ev: Evaluator, spec: Any, path: str) -> Result:
    if isinstance(spec, dict) and ("field" in spec or "query_vector" in spec):
        return knn_es(ev, spec, path, default_k=None)
    field, p, fpath = single_field(spec, path, "knn", BOOST | {"vector", "k", "filter"},
                                    "vector")
    if "vector" not in p or "k" not in p:
        raise QueryError(f"[vector] and [k] are required at {fpath}")
    k = param_int(p, "k", fpath, 0)
    return ev.finish(p, *ev.knn(field, p["vector"], k, p.get("filter"), None, fpath), fpath)


def knn_es(ev: Evaluator, spec: Any, path: str, default_k: int | None) -> Result:
    """ES knn (query clause: default k = num_candidates; top-level: default k = size)."""
    p = check_params(spec, path, "knn", _KNN_ES)
    if "field" not in p or "query_vector" not in p:
        raise QueryError(f"[field] and [query_vector] are required at {path}")
    k = param_int(p, "k", path, 0) if "k" in p else None
    base = k or default_k or max(1, ev.window)
    num_candidates = param_int(p, "num_candidates", path, min(10_000, math.ceil(1.5 * base)))
    if k is None:
        k = default_k if default_k is not None else num_candidates
    if num_candidates < k:
        raise QueryError(f"[num_candidates] cannot be less than [k] at {path}")
    similarity = param_number(p, "similarity", path) if "similarity" in p else None
    return ev.finish(p, *ev.knn(p["field"], p["query_vector"], k, p.get("filter"),
                                similarity, path), path)


CLAUSES: dict[str, Callable[[Evaluator, Any, str], Result]] = {
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
    "function_score": q_function_score,
    "rank_feature": _q_rank_feature,
    "knn": _q_knn,
}
