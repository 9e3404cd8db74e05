"""Hostile input, shared by the tests of every tier (unit, e2e, integration) so that none of
them imports another test module: Hypothesis strategies for what a hostile or careless client
sends, fixed lists of strings that break naively rendered templates, and the tally of hostile
cases a session ran (printed at its end by tests/conftest.py)."""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st

from es_ltrr.search.request import MAX_K, MAX_QUERY_CHARS
from es_ltrr.serving.contract import MAX_CONTEXT_DEPTH

#: Text a hostile or careless client sends: every code point (surrogates included) and the
#: characters that break naive code — NUL, controls, BOM, zero-width, combining, RTL, emoji.
SPECIAL = ["\x00", "\x1b", "\x7f", "\ufeff", "\u200b", "e\u0301", "\u202e", "\u05e9\u05dc\u05d5\u05dd",
           "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\ud800", "\udfff", "\ufffd", "\U0010ffff", " ", '"', "\\"]
CHARS = st.characters(exclude_categories=()) | st.characters(exclude_categories=("Cs",)) | st.sampled_from(SPECIAL)
TEXT = st.lists(CHARS, max_size=MAX_QUERY_CHARS + 20).map("".join)
QUERIES = st.lists(CHARS, min_size=1, max_size=MAX_QUERY_CHARS + 20).map("".join)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
CONTEXTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=8)
NUMBERS = st.integers(1, MAX_K).map(str) | st.integers(-(2**70), 2**70).map(str) | st.sampled_from(["9" * 5000, "1e999", "NaN", "5.0"])


@st.composite
def deep_json(draw) -> str:
    """Arrays and objects nested up to (and past) what the body limit allows, in a drawn pattern."""
    depth = draw(st.integers(0, MAX_CONTEXT_DEPTH + 2) | st.integers(0, 40_000))
    pattern = draw(st.lists(st.booleans(), min_size=1, max_size=4))
    levels = [pattern[i % len(pattern)] for i in range(depth)]
    return "".join('{"k": ' if obj else "[" for obj in levels) + "0" + "".join("}" if obj else "]" for obj in reversed(levels))


#: Hostile-input cases this session ran, per surface, and how many of them answered 5xx.
CASES: Counter[str] = Counter()
SERVER_ERRORS: Counter[str] = Counter()


def tally(surface: str, status: int = 0) -> None:
    """Count one hostile case of `surface` (an HTTP status >= 500 is also counted as such)."""
    CASES[surface] += 1
    if status >= 500:
        SERVER_ERRORS[surface] += 1


#: Mustache tags and JSON fragments that would change a naively rendered body.
INJECTIONS = ["{{", "}}", "{{{", "}}}", "{{#", "{{/", "{{^", "{{&", "{{>", "{{!", "{{=<% %>=}}", "{{size}}",
              "{{{text}}}", "{{#toJson}}size{{/toJson}}", "{{&text}}", "{{> partial}}", '","match_all":{}', "}}]}",
              '"}}, "match_all": {}, "x": {"', '\\"', "\\", '"', "'", "\u0000", "\\u0000", "</script>", "\n", "null", "]}",
              '{"script": {"source": "1"}}', "${x}", "%s", "\ud800"]
INJECTION_TEXT = st.lists(st.sampled_from(INJECTIONS) | CHARS | st.text(max_size=5), min_size=1, max_size=12).map("".join)

#: Strings that break a naively built body: quotes, backslashes, JSON that closes the string,
#: mustache tags, Unicode and control characters, SQL and HTML injections.
HOSTILE_STRINGS = [
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

#: Query text made of injection fragments only (mustache tags, JSON that would close the string).
PURE_INJECTIONS = ['"}}, "match_all": {}, "x": {"', '{{{text}}}', '","match_all":{}', "}}]}", "{{#toJson}}size{{/toJson}}",
                   '{{&text}} {{> p}} {{^f}} {{/f}} {{=<% %>=}}', '\\" \\\\ \\u0000 \'', "*", "* OR 1=1", '{"match_all": {}}']
