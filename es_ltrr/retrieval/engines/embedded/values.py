"""Values as Elasticsearch parses them: document values (flattened, coerced), dates, numbers,
time values and `minimum_should_match` — shared by indexing and query evaluation."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from es_ltrr.retrieval.engines.base import EngineError, QueryError, UnsupportedQuery


def flat(value: Any) -> list:
    """A field's values: arrays flattened like ES does, nulls dropped."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        out: list = []
        for item in value:
            out.extend(flat(item))
        return out
    return [value]


def as_text(value: Any, what: str) -> str:
    """A scalar as the string ES would index for text/keyword fields."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.number)):
        return str(value)
    raise EngineError(f"{what}: expected a string, got {type(value).__name__}")


def parse_date(value: Any, round_up: bool = False) -> float:
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


def parse_number(value: Any, kind: str) -> float:
    """A query value for a numeric field of `kind` (floats rounded to float32 like ES)."""
    if kind == "date":
        return parse_date(value)
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


def index_number(value: Any, kind: str, what: str) -> float:
    """A document value for a numeric field (ES coerces strings, truncates integers)."""
    try:
        number = parse_number(value, kind)
    except QueryError as exc:
        raise EngineError(f"{what}: {exc}") from None
    return float(math.trunc(number)) if kind == "integer" and math.isfinite(number) else number


_TIME_UNITS_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6,
                  "d": 8.64e7}


def time_value(value: Any, path: str) -> float:
    """An ES TimeValue ("10d", "12h") → milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*(nanos|micros|ms|s|m|h|d)\s*", str(value))
    if not match or isinstance(value, (int, float)):
        raise QueryError(f"failed to parse time value {value!r} at {path} (e.g. '30d', '12h')")
    return int(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def min_should_match(spec: Any, optional: int, path: str) -> int:
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
                    result = min_should_match(sub, count, path)
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
