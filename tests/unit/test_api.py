import pytest
from hypothesis import given
from hypothesis import strategies as st

from es_ltrr.search.request import MAX_K, MAX_QUERY_CHARS
from es_ltrr.serving.contract import BadRequest, parse_search_request


def test_valid_request_defaults():
    r = parse_search_request({"query": "  tayler love "})
    assert (r.query, r.k, dict(r.context), r.debug) == ("tayler love", 10, {}, False)


@pytest.mark.parametrize(
    "payload, message",
    [
        ([], "JSON object"),
        ({}, "'query' is required"),
        ({"query": 5}, "'query' is required"),
        ({"query": ""}, "empty"),
        ({"query": " \t\n "}, "empty"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "longer than"),
        ({"query": "a\x00b"}, "NUL"),
        ({"query": "a", "k": "10"}, "'k' must be an integer"),
        ({"query": "a", "k": True}, "'k' must be an integer"),
        ({"query": "a", "k": 1.5}, "'k' must be an integer"),
        ({"query": "a", "k": 0}, "between 1"),
        ({"query": "a", "k": MAX_K + 1}, "between 1"),
        ({"query": "a", "context": []}, "'context'"),
        ({"query": "a", "debug": "yes"}, "'debug'"),
        ({"query": "a", "kk": 1}, "unknown field"),
    ],
)
def test_bad_requests(payload, message):
    with pytest.raises(BadRequest, match=message):
        parse_search_request(payload)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_arbitrary_json_either_parses_or_is_bad_request(payload):
    try:
        parse_search_request(payload)
    except BadRequest:
        pass
