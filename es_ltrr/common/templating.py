"""Search-template rendering with Elasticsearch/OpenSearch mustache semantics, restricted
to the tags that cannot inject query structure.

A template may contain only:

* `"{{name}}"` — a string parameter *inside a JSON string literal*, JSON-escaped, exactly as
  the cluster's lang-mustache escapes it for JSON content;
* `{{#toJson}}name{{/toJson}}` — a non-string parameter (number, list, object, boolean)
  serialized as JSON. Strings are refused here: the cluster's `toJson` writes a string
  *raw, without quotes or escaping*, which would let user text rewrite the query;
* `{{#flag}}…{{/flag}}` / `{{^flag}}…{{/flag}}` — blocks kept or dropped on a parameter
  our own params builders set.

Triple mustaches and `{{&name}}` (unescaped) are rejected, and so is a `{{name}}` outside a
JSON string. The renderer is written here rather than taken from a mustache library because
the Python ones escape for HTML, not JSON; an integration test checks that the node's own
`_render/template` gives the same output for hostile input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Union

# `{{{name}}}` (unescaped, rejected) or `{{<sigil>name}}`; a `}` right after a tag is JSON
_TAG = re.compile(r"\{\{(\{)\s*()([^}]*?)\s*\}\}\}|\{\{()\s*([#^/!&]?)\s*([^}]*?)\s*\}\}")


class TemplateError(ValueError):
    """A template that breaks the rendering rules, or params that do not fit it."""


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass(frozen=True)
class _Json:
    name: str


@dataclass(frozen=True)
class _Section:
    name: str
    inverted: bool
    children: tuple["_Node", ...]


_Node = Union[str, _Var, _Json, _Section]


@lru_cache(maxsize=256)
def _parse(template: str) -> tuple[_Node, ...]:
    stack: list[tuple[str | None, bool, list[_Node]]] = [(None, False, [])]
    pos = 0
    for match in _TAG.finditer(template):
        stack[-1][2].append(template[pos : match.start()])
        pos = match.end()
        groups = match.groups()
        triple, sigil, name = groups[0:3] if groups[0] else groups[3:6]
        if triple or sigil == "&":
            raise TemplateError(f"unsafe tag {match.group(0)!r}: use \"{{{{{name}}}}}\" or toJson")
        if sigil == "!":
            continue
        if sigil in ("#", "^"):
            stack.append((name, sigil == "^", []))
        elif sigil == "/":
            open_name, inverted, children = stack.pop() if len(stack) > 1 else (None, False, [])
            if open_name != name:
                raise TemplateError(f"{{{{/{name}}}}} closes {open_name!r}")
            stack[-1][2].append(_section(name, inverted, children))
        else:
            stack[-1][2].append(_Var(name))
    if len(stack) != 1:
        raise TemplateError(f"unclosed section {stack[-1][0]!r}")
    stack[0][2].append(template[pos:])
    return tuple(n for n in stack[0][2] if n != "")


def _section(name: str, inverted: bool, children: list[_Node]) -> _Node:
    if name != "toJson":
        return _Section(name, inverted, tuple(children))
    if inverted or len(children) != 1 or not isinstance(children[0], str):
        raise TemplateError("toJson must wrap exactly one parameter name")
    return _Json(children[0].strip())


def _lookup(params: Mapping[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise TemplateError(f"template parameter {path!r} is missing")
        value = value[part]
    return value


def _render_nodes(nodes: tuple[_Node, ...], params: Mapping[str, Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            value = _lookup(params, node.name)
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TemplateError(f"{{{{{node.name}}}}} needs a string or number, got {type(value).__name__}")
            out.append(json.dumps(str(value), ensure_ascii=False)[1:-1])
        elif isinstance(node, _Json):
            value = _lookup(params, node.name)
            if isinstance(value, str):
                raise TemplateError(f"toJson of the string {node.name!r}: write \"{{{{{node.name}}}}}\" instead")
            out.append(json.dumps(value, ensure_ascii=False))
        elif bool(_lookup(params, node.name)) != node.inverted:
            _render_nodes(node.children, params, out)


def render_text(template: str, params: Mapping[str, Any]) -> str:
    """The rendered template text (what a cluster's `_render/template` returns)."""
    out: list[str] = []
    _render_nodes(_parse(template), params, out)
    return "".join(out)


def render(template: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Render `template` with `params` and parse the result as a JSON object."""
    text = render_text(template, params)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template rendered to invalid JSON: {exc}") from exc


_MARK = "\ue000"  # a private-use character no template contains


def check_template(template: str) -> None:
    """Raise TemplateError unless every tag is allowed and every `{{name}}` sits in a string.

    The template is rendered with every flag on and then off, strings replaced by a marker
    and toJson values by 0: the result must be JSON whose markers are all inside strings.
    """
    nodes = _parse(template)
    for flags in (True, False):
        text = "".join(_probe(nodes, flags))
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"template is not JSON with placeholders filled (a {{{{name}}}} outside quotes?): {exc}") from exc
        if _MARK in json.dumps(_strip_strings(parsed), ensure_ascii=False):
            raise TemplateError("a {{name}} tag is used as a JSON key or outside a string")


def _probe(nodes: tuple[_Node, ...], flags: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            out.append(_MARK)
        elif isinstance(node, _Json):
            out.append("0")
        elif flags != node.inverted:
            out.extend(_probe(node.children, flags))
    return out


def _strip_strings(node: Any) -> Any:
    """The JSON value with string *values* blanked (keys kept, so markers in keys show)."""
    if isinstance(node, dict):
        return {k: _strip_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_strings(v) for v in node]
    return "" if isinstance(node, str) else node
