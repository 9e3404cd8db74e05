"""Template rendering: hostile user text stays a JSON string and cannot change structure."""


import pytest
from hypothesis import given, settings, strategies as st

from es_ltrr.arms import ARMS
from es_ltrr.templating import TemplateError, check_template, render

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


TEMPLATE = '{"q": {"match": {"name": "{{text}}"}}, "size": {{#toJson}}size{{/toJson}}, "l": {{#toJson}}lst{{/toJson}}}'


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_one_escaped_string(text):
    body = render(TEMPLATE, {"text": text, "size": 5, "lst": [text]})
    assert body == {"q": {"match": {"name": text}}, "size": 5, "l": [text]}


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_keeps_structure(text):
    body = render(TEMPLATE, {"text": text, "size": 5, "lst": [text, 1]})
    assert _shape(body) == _shape(render(TEMPLATE, {"text": "x", "size": 5, "lst": ["x", 1]}))
    assert body["q"]["match"]["name"] == text and body["l"] == [text, 1]


@pytest.mark.parametrize("template", ['{"a": {{{text}}}}', '{"a": "{{&text}}"}'])
def test_unescaped_tags_are_rejected(template):
    with pytest.raises(TemplateError, match="unsafe tag"):
        check_template(template)


@pytest.mark.parametrize("template", ['{"a": {{text}}}', '{"{{text}}": 1}', '{"a": 1{{#f}},{{/f}}}'])
def test_var_outside_a_string_or_broken_json_is_rejected(template):
    with pytest.raises(TemplateError):
        check_template(template)


def test_tojson_of_a_string_is_refused():
    """The cluster's toJson writes strings raw (unquoted): never allow it."""
    with pytest.raises(TemplateError, match="toJson of the string"):
        render('{"a": {{#toJson}}x{{/toJson}}}', {"x": "evil"})


def test_flags_and_inverted_sections():
    t = '{"a": [{{#f}}1,{{/f}}{{^f}}2,{{/f}}0]}'
    assert render(t, {"f": True}) == {"a": [1, 0]}
    assert render(t, {"f": False}) == {"a": [2, 0]}


def test_unbalanced_sections_are_errors():
    with pytest.raises(TemplateError):
        render('{"a": 1{{#f}}}', {"f": True})
    with pytest.raises(TemplateError):
        render('{"a": 1{{/f}}}', {"f": True})


def test_missing_param_is_a_clear_error():
    with pytest.raises(TemplateError, match="'text' is missing"):
        render(TEMPLATE, {"size": 1, "lst": []})


def test_invalid_json_output_is_reported():
    with pytest.raises(TemplateError, match="invalid JSON"):
        render('{"a": {{#toJson}}x{{/toJson}}', {"x": 1})


def test_tag_followed_by_json_brace_is_not_a_triple_mustache():
    assert render('{"a": {"b": {{#toJson}}x{{/toJson}}}}', {"x": [1]}) == {"a": {"b": [1]}}


@pytest.mark.parametrize("name", list(ARMS))
@pytest.mark.parametrize("flavor", ["embedded", "opensearch", "elasticsearch"])
def test_every_arm_template_is_safe(name, flavor):
    check_template(ARMS[name].template(flavor))
