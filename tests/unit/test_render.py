"""Template rendering: hostile user text stays a JSON string and cannot change structure."""


import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from es_ltrr.common.templating import TemplateError, check_template, render
from es_ltrr.retrieval.arms import ARMS

from ..hostile import HOSTILE_STRINGS, INJECTION_TEXT, PURE_INJECTIONS, tally


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


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
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


# -- every real template: user text fills string values and nothing else -------------------

FLAVORS = ["embedded", "opensearch", "elasticsearch"]


def _placeholders(params):
    """`params` with every string (in lists too) replaced by a benign placeholder."""
    if isinstance(params, dict):
        return {k: _placeholders(v) for k, v in params.items()}
    if isinstance(params, list):
        return [_placeholders(v) for v in params]
    return "placeholder" if isinstance(params, str) else params


def _param_strings(params):
    return set(_strings(params))


def _differences(body, benign, path=""):
    """(path, value, benign value) of every leaf where the two bodies differ; asserts the keys
    and every non-string leaf are the same."""
    if isinstance(benign, dict):
        assert isinstance(body, dict) and list(body) == list(benign), path
        for key in benign:
            yield from _differences(body[key], benign[key], f"{path}.{key}")
    elif isinstance(benign, list):
        assert isinstance(body, list) and len(body) == len(benign), path
        for i, (a, b) in enumerate(zip(body, benign)):
            yield from _differences(a, b, f"{path}[{i}]")
    elif body != benign:
        assert isinstance(body, str) and isinstance(benign, str), (path, body, benign)
        yield path, body, benign


def assert_only_string_values_change(template, params):
    """Rendered with `params` vs with placeholders: same keys, same non-string leaves; every
    leaf that differs is a string holding exactly one of the params' strings (user text, an
    id, a `q2e.<key>` field) where the benign render holds the placeholder."""
    body = render(template, params)
    benign = render(template, _placeholders(params))
    allowed = _param_strings(params)
    for path, value, placeholder in _differences(body, benign):
        assert placeholder == "placeholder" and value in allowed, (path, value)
    return body


@pytest.fixture(scope="module")
def gazetteer():
    from pathlib import Path

    from es_ltrr.catalog import read_spotify
    from es_ltrr.understanding import Gazetteer

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"
    return Gazetteer.from_entities(read_spotify(fixture, progress=False).entities)


@given(text=INJECTION_TEXT, seed=st.integers(0, 2**31 - 1))
@example(text="PART", seed=0)  # every word a slot: the structured arm has no text of its own
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_user_text_only_fills_string_values_of_every_arm_and_feature_template(gazetteer, text, seed):
    """Random Unicode, quotes, backslashes, mustache tags and JSON fragments, understood for
    real (slots, misspellings): every arm template of every flavor and every feature template
    of the shipped featuresets renders valid JSON of the same structure as a benign query's."""
    from es_ltrr.common.analysis import q2e_key
    from es_ltrr.ranking.ltr import feature_params, shipped_featuresets
    from es_ltrr.retrieval.arms import ArmInput
    from es_ltrr.retrieval.union import Candidate, Provenance
    from es_ltrr.understanding import understand

    tally("templates: arms × flavors + features")
    u = understand(text, gazetteer)
    inp = ArmInput(text, u, vector=np.linspace(-1, 1, 384), seed=seed)
    for name, arm in ARMS.items():
        params = arm.params(inp, 10)
        if params is None:
            continue
        for flavor in FLAVORS:
            body = assert_only_string_values_change(arm.template(flavor), params)
            if params.get("text"):  # an arm's own text (the structured arm's: only the words no slot took)
                assert params["text"] in set(_strings(body)), name
    # ids are the engine's, but a catalog's ids are text too: the user's text stands in for one
    found = [Candidate(text, {}, [Provenance("lexical", 1, 2.0), Provenance("q2e", 4, 1.0)]),
             Candidate("t1", {}, [Provenance("semantic", 3, 0.5)])]
    params = feature_params(text, u, found, vector=np.linspace(-1, 1, 384))
    assert "." not in params["q2e_field"].removeprefix("q2e."), "a Q2E key must not address another field"
    assert params["q2e_field"] == f"q2e.{q2e_key(text) or '_'}"
    for featureset in shipped_featuresets():
        for feature in featureset.features:
            assert_only_string_values_change(feature.template, params)


@pytest.mark.parametrize("text", PURE_INJECTIONS)
def test_injection_fragments_never_widen_a_search_on_the_embedded_engine(small_searcher, text):
    """Every arm's body for a query of pure injection fragments, asked for 10,000 hits, matches
    fewer documents than the index holds: no fragment turned a clause into match_all."""
    from es_ltrr.retrieval.arms import ArmInput
    from es_ltrr.understanding import understand

    engine = small_searcher.engine
    everything = engine.msearch([{"query": {"match_all": {}}, "size": 10_000}])[0]["hits"]["total"]["value"]
    inp = ArmInput(text, understand(text, small_searcher.gazetteer), seed=1)
    bodies = {name: arm.render(inp, 10_000, "embedded") for name, arm in ARMS.items()}
    bodies = {name: body for name, body in bodies.items() if body is not None}
    assert bodies, "no arm applied"
    responses = engine.msearch(list(bodies.values()))
    assert len(responses) == len(bodies)
    for name, response in zip(bodies, responses):
        tally("engine: pure injection queries", int(response.get("status", 200)))
        assert "error" not in response, (name, response.get("error"))
        assert response["hits"]["total"]["value"] < everything, (name, text)
