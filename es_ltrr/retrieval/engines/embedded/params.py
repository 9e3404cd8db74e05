"""Reading request JSON: parameter checks with the JSON path in every error message."""

from __future__ import annotations

import json
from typing import Any

from es_ltrr.retrieval.engines.base import QueryError, UnsupportedQuery

from .values import as_text, parse_number

BOOST = frozenset({"boost", "_name"})  # parameters every clause takes

def brief(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 80 else text[:77] + "..."


def check_params(spec: Any, path: str, clause: str, allowed: frozenset[str]) -> dict:
    if not isinstance(spec, dict):
        raise QueryError(f"[{clause}] at {path} must be an object, got {brief(spec)}")
    for key in spec:
        if key not in allowed:
            raise UnsupportedQuery(f"unsupported parameter {key!r} in {clause!r} at {path}")
    return spec


def single_field(spec: Any, path: str, clause: str, allowed: frozenset[str],
                  short: str) -> tuple[str, dict, str]:
    """`{field: value}` or `{field: {params}}` → (field, params, path of the field)."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(f"[{clause}] at {path} needs exactly one field, got {brief(spec)}")
    ((field, value),) = spec.items()
    fpath = f"{path}.{field}"
    if isinstance(value, dict):
        return field, check_params(value, fpath, clause, allowed), fpath
    return field, {short: value}, fpath


def param_number(params: dict, key: str, path: str, default: float | None = None) -> float:
    value = params.get(key, default)
    if value is None:
        raise QueryError(f"[{key}] is required at {path}")
    if isinstance(value, bool):
        raise QueryError(f"[{key}] at {path} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryError(f"[{key}] at {path} must be a number, got {value!r}") from None


def param_int(params: dict, key: str, path: str, default: int) -> int:
    value = param_number(params, key, path, default)
    if value != int(value) or value < 0:
        raise QueryError(f"[{key}] at {path} must be a non-negative integer, got {value!r}")
    return int(value)


def clause_list(spec: Any, path: str) -> list[tuple[Any, str]]:
    if spec is None:
        return []
    if isinstance(spec, list):
        return [(q, f"{path}[{i}]") for i, q in enumerate(spec)]
    return [(spec, path)]


def query_text(value: Any, path: str) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise QueryError(f"expected a string at {path}, got {brief(value)}")
    return as_text(value, path)


def query_number(value: Any, kind: str, path: str) -> float:
    try:
        return parse_number(value, kind)
    except QueryError as exc:
        raise type(exc)(f"{exc} at {path}") from None
