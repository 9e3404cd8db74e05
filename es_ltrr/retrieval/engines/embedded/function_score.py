"""`function_score`: field_value_factor, random_score and decay functions, combined by
score_mode and boost_mode as Elasticsearch does."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any, Callable

import numpy as np

from es_ltrr.retrieval.engines.base import QueryError, UnsupportedQuery

from .fields import Numeric
from .lucene import hash64, uniform
from .params import BOOST, check_params, clause_list, param_number
from .protocol import Evaluator, Result
from .values import parse_date, time_value

_FUNCTIONS = ("field_value_factor", "random_score", "gauss", "exp", "linear")
_FS = BOOST | {"query", "functions", "score_mode", "boost_mode", "max_boost", "min_score",
                "weight", *_FUNCTIONS}


def q_function_score(ev: Evaluator, spec: Any, path: str) -> Result:
    p = check_params(spec, path, "function_score", _FS)
    scores, matched = ev.query(p.get("query", {"match_all": {}}), f"{path}.query")
    shorthand = {k: p[k] for k in ("weight", *_FUNCTIONS) if k in p}
    if shorthand and "functions" in p:
        raise QueryError(f"function_score at {path} has both [functions] and a function")
    functions = clause_list([shorthand] if shorthand else p.get("functions", []),
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
            fp = check_params(fn, fpath, "function", frozenset({"filter", "weight", *_FUNCTIONS}))
            applies = matched.copy()
            if "filter" in fp:
                applies &= ev.query(fp["filter"], f"{fpath}.filter")[1]
            weight = param_number(fp, "weight", fpath, 1.0)
            value = _function_value(ev, fp, fpath, applies) * weight
            values[j] = np.where(applies, value, np.nan)
            weights[j] = np.where(applies, weight, 0.0)
        factor = _score_mode(values, weights, score_mode)
        factor = np.minimum(factor, param_number(p, "max_boost", path, np.finfo(np.float32).max))
        q = scores.astype(np.float64)
        combined = {"multiply": q * factor, "replace": factor, "sum": q + factor,
                    "avg": (q + factor) / 2, "max": np.maximum(q, factor),
                    "min": np.minimum(q, factor)}[boost_mode]
    if "min_score" in p:
        matched = matched & (combined >= param_number(p, "min_score", path))
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


def _function_value(ev: Evaluator, fp: dict, path: str, applies: np.ndarray) -> np.ndarray:
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


def _field_value_factor(ev: Evaluator, spec: Any, path: str, applies: np.ndarray) -> np.ndarray:
    p = check_params(spec, path, "field_value_factor", frozenset(
        {"field", "factor", "modifier", "missing"}))
    field, modifier = p.get("field"), p.get("modifier", "none")
    if modifier not in _MODIFIERS:
        raise QueryError(f"illegal modifier {modifier!r} at {path}")
    part = ev.part(field) if isinstance(field, str) else None
    missing = param_number(p, "missing", path) if p.get("missing") is not None else None
    if part is None and missing is None:
        raise QueryError(f"unable to find a numeric field [{field}] at {path}; "
                         "no 'missing' value defined")
    if part is not None and not isinstance(part, Numeric):
        raise QueryError(f"field_value_factor needs a numeric field, [{field}] is "
                         f"[{part.kind}] at {path}")
    values = part.dense if part is not None else np.full(ev.n, np.nan)
    if missing is not None:
        values = np.where(np.isnan(values), missing, values)
    elif np.isnan(values[applies]).any():
        raise QueryError(f"missing value for field [{field}] at {path} (set 'missing')")
    result = _MODIFIERS[modifier](param_number(p, "factor", path, 1.0) * values)
    bad = applies & ~(np.isfinite(result) & (result >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QueryError(f"field_value_factor at {path} must produce a non-negative number, "
                         f"got {result[i]} for field value {values[i]}")
    return result


def _random_score(ev: Evaluator, spec: Any, path: str) -> np.ndarray:
    p = check_params(spec, path, "random_score", frozenset({"seed", "field"}))
    if p.get("field", "_seq_no") not in ("_seq_no", "_id", "id"):
        raise UnsupportedQuery(f"random_score field {p['field']!r} at {path} "
                               "(supported: _seq_no, _id, id)")
    seed = hash64(str(p["seed"])) if "seed" in p else secrets.randbits(64)
    return uniform(ev.ix.id_hash, seed)


def _decay(ev: Evaluator, kind: str, spec: Any, path: str) -> np.ndarray:
    if not isinstance(spec, dict):
        raise QueryError(f"[{kind}] at {path} must be an object")
    mode = spec.get("multi_value_mode", "min")
    fields = [k for k in spec if k != "multi_value_mode"]
    if len(fields) != 1 or mode not in ("min", "max", "avg", "sum"):
        raise QueryError(f"[{kind}] at {path} needs one field and a valid multi_value_mode")
    field = fields[0]
    fpath = f"{path}.{field}"
    p = check_params(spec[field], fpath, kind, frozenset({"origin", "scale", "offset", "decay"}))
    part = ev.part(field)
    if not isinstance(part, Numeric):
        raise QueryError(f"[{kind}] needs a numeric or date field, got [{field}] at {fpath}")
    if part.kind == "date":
        origin = parse_date(p["origin"]) if "origin" in p else time.time() * 1000.0
        scale = time_value(p.get("scale"), fpath)
        offset = time_value(p["offset"], fpath) if "offset" in p else 0.0
    else:
        origin = param_number(p, "origin", fpath)
        scale, offset = param_number(p, "scale", fpath), param_number(p, "offset", fpath, 0.0)
    decay = param_number(p, "decay", fpath, 0.5)
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
