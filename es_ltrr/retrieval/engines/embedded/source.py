"""`_source` filtering of hits (includes/excludes with wildcards and dotted paths)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from es_ltrr.retrieval.engines.base import QueryError

from .params import brief, check_params


@dataclass(frozen=True)
class SourceFilter:
    includes: tuple[str, ...] | None
    excludes: tuple[str, ...]
    with_vector: bool
    #: No wildcards or dotted paths (the arms' case): fields are picked by name, fnmatch per
    #: field costs 10× more. Decided once per request, not per hit.
    plain: bool = False

    @classmethod
    def parse(cls, spec: Any, vector_field: str) -> "SourceFilter | None":
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
            check_params(spec, "_source", "_source",
                    frozenset({"includes", "excludes", "include", "exclude"}))
            includes = spec.get("includes", spec.get("include"))
            excludes = spec.get("excludes", spec.get("exclude", ()))
        elif spec not in (None, True):
            raise QueryError(f"invalid _source {brief(spec)}")
        includes = [includes] if isinstance(includes, str) else includes
        excludes = [excludes] if isinstance(excludes, str) else excludes
        if not all(isinstance(x, str) for x in [*(includes or ()), *excludes]):
            raise QueryError(f"invalid _source {brief(spec)}")
        inc = tuple(includes) if includes else None
        with_vector = bool(inc and vector_field in inc and not any(
            fnmatchcase(vector_field, x) for x in excludes))
        return cls(inc, tuple(excludes), with_vector, _plain(inc) and _plain(tuple(excludes)))

    def apply(self, source: dict) -> dict:
        """A filtered copy (nested objects copied too: callers may mutate hits)."""
        if self.plain:
            keys = source.keys() if self.includes is None else (k for k in self.includes if k in source)
            if not self.excludes:
                return {k: _copy(source[k]) for k in keys}
            return {k: _copy(source[k]) for k in keys if k not in self.excludes}
        return _pick(source, self.includes, self.excludes, "")


def _plain(patterns: tuple[str, ...] | None) -> bool:
    """No wildcards and no dotted paths: fields can be picked by name."""
    return patterns is None or not any(set(p) & set("*?[.") for p in patterns)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return list(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    return value


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
