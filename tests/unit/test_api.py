import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from es_ltrr.search.request import DEFAULT_K, MAX_K, MAX_QUERY_CHARS, SearchRequest
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
        ({"q": "x"}, r"^unknown field\(s\): q; 'query' is required"),  # both said at once
    ],
)
def test_bad_requests(payload, message):
    with pytest.raises(BadRequest, match=message):
        parse_search_request(payload)


#: Any JSON value; and any object with a string `query` and the other fields drawn from it.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
REQUEST_LIKE = st.fixed_dictionaries({"query": st.text()},
                                     optional={"k": st.integers(-1, MAX_K + 1) | JSON, "context": JSON, "debug": JSON})
#: A BadRequest's message names the body, a field ("unknown field(s)", "a field name") or the one at fault.
NAMES_WHAT_IS_WRONG = re.compile(r"body|field|'(query|k|context|debug)\b")


@given(JSON | REQUEST_LIKE)
@example({"query": " tayler love ", "k": MAX_K, "context": None, "debug": True})
@example({"query": "a", "k": 1, "context": {"device": ["x", 1, None]}})
def test_arbitrary_json_either_parses_or_is_bad_request(payload):
    try:
        request = parse_search_request(payload)
    except BadRequest as exc:
        assert NAMES_WHAT_IS_WRONG.search(str(exc)), str(exc)
        return
    assert isinstance(request, SearchRequest) and set(payload) <= {"query", "k", "context", "debug"}
    assert request.query == payload["query"].strip() and 0 < len(request.query) <= MAX_QUERY_CHARS
    assert 1 <= request.k <= MAX_K and request.k == payload.get("k", DEFAULT_K)
    assert isinstance(request.context, dict) and request.context == (payload.get("context") or {})
    assert request.debug is payload.get("debug", False)
