"""Template rendering: hostile user text stays a JSON string and cannot change structure."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from es_ltrr.arms import ARMS, TemplateError, check_template, render

HOSTILE = [
    'he said "hi"',
    "\\",
    "\\\"",
    '"}}, "match_all": {}, "x": {"',
    "{{size}}",
    "{{{text}}}",
    "{{#toJson}}size{{/toJson}}",
    "ünïcödé ☃ 音楽 🎵",
    "\u2028\u2029",
    "\x01\x1f",
    "'; DROP TABLE --",
    "</script>",
]


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _shape(node):
    """The structure of a JSON value with every string replaced by a marker."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return "S" if isinstance(node, str) else type(node).__name__


TEMPLATE = '{"q": {"match": {"name": {{#toJson}}text{{/toJson}}}}, "size": {{#toJson}}size{{/toJson}}}'


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_one_escaped_string(text):
    body = render(TEMPLATE, {"text": text, "size": 5})
    assert body == {"q": {"match": {"name": text}}, "size": 5}


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_keeps_structure(text):
    body = render(TEMPLATE, {"text": text, "size": 5})
    assert _shape(body) == _shape(render(TEMPLATE, {"text": "x", "size": 5}))
    assert body["q"]["match"]["name"] == text


@pytest.mark.parametrize("template", ["{{text}}", "{{{text}}}", "{{&text}}", '{"a": "{{ text }}"}'])
def test_unsafe_tags_are_rejected(template):
    with pytest.raises(TemplateError, match="unsafe tag"):
        check_template(template)


def test_missing_param_is_a_clear_error():
    with pytest.raises(TemplateError, match="'text' is missing"):
        render(TEMPLATE, {"size": 1})


def test_invalid_json_output_is_reported():
    with pytest.raises(TemplateError, match="invalid JSON"):
        render('{"a": {{#toJson}}x{{/toJson}}', {"x": 1})


@pytest.mark.parametrize("name", list(ARMS))
@pytest.mark.parametrize("flavor", ["embedded", "opensearch", "elasticsearch"])
def test_every_arm_template_is_safe(name, flavor):
    check_template(ARMS[name].template(flavor))
