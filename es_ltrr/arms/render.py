"""Mustache rendering with Elasticsearch's `toJson` semantics, and a guard against injection.

Templates may contain only three kinds of tag:

* `{{#toJson}}name{{/toJson}}` — the parameter `name` serialized as a JSON value (strings
  quoted and escaped), exactly as Elasticsearch/OpenSearch lang-mustache renders it;
* `{{#flag}}` … `{{/flag}}` and `{{^flag}}` … `{{/flag}}` — conditional blocks on boolean
  parameters that our own params builders set.

A plain `{{name}}` (HTML-escaped, not JSON-escaped) or `{{{name}}}` (raw) tag would let user
text change the query's structure, so `check_template` rejects them. The same template text
renders identically here and in a cluster's `_search/template`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

import chevron

_TAG = re.compile(r"\{\{(\{?)([#^/!&]?)\s*([^}]*?)\s*\}?\}\}")


class TemplateError(ValueError):
    """A template that breaks the rendering rules, or renders to invalid JSON."""


def check_template(template: str) -> None:
    """Raise TemplateError if `template` has a tag other than toJson sections or flags."""
    for match in _TAG.finditer(template):
        triple, sigil, name = match.groups()
        if triple or sigil in ("", "&"):
            raise TemplateError(
                f"unsafe tag {match.group(0)!r}: use {{{{#toJson}}}}{name}{{{{/toJson}}}}"
            )


def _lookup(params: Mapping[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.strip().split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise TemplateError(f"template parameter {path.strip()!r} is missing")
        value = value[part]
    return value


def render(template: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Render `template` with `params` and parse the result as a JSON object."""
    check_template(template)

    def to_json(text: str, _render: Any) -> str:
        return json.dumps(_lookup(params, text), ensure_ascii=False)

    text = chevron.render(template, {**params, "toJson": to_json})
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template rendered to invalid JSON: {exc}") from exc
