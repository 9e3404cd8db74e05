"""End-to-end HTTP tests of the sidecar on a small slice of the real catalog."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from es_ltrr.search.request import MAX_K, MAX_QUERY_CHARS
from es_ltrr.serving.contract import MAX_CONTEXT_DEPTH
from es_ltrr.serving.http import MAX_BODY_BYTES, create_app

from ..hostile import CONTEXTS, NUMBERS, QUERIES, TEXT, deep_json, tally


@pytest.fixture(scope="module")
def client(small_searcher):
    return create_app(small_searcher).test_client()


def _post(client, body, raw=False):
    data = body if raw else json.dumps(body)
    return client.post("/search", data=data, content_type="application/json")


def test_search_response_shape(client):
    resp = _post(client, {"query": "memories maroon 5", "k": 5, "debug": True})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) >= {"impression_id", "arms", "hits", "timings_ms", "ranker", "understanding"}
    assert 1 <= len(body["hits"]) <= 5
    hit = body["hits"][0]
    assert {"id", "type", "name", "score", "arms"} <= set(hit)
    assert all({"arm", "rank", "score"} <= set(a) for a in hit["arms"])
    assert {a["arm"] for a in body["arms"]} >= {"lexical", "popular"}
    assert body["timings_ms"]["total"] > 0
    assert "Memories" in hit["name"]


def test_scores_are_descending_and_k_respected(client):
    body = _post(client, {"query": "remix", "k": 7}).get_json()
    scores = [h["score"] for h in body["hits"]]
    assert len(scores) == 7 and scores == sorted(scores, reverse=True)


def test_no_match_is_an_empty_page_not_an_error(client):
    resp = _post(client, {"query": "qqqqzzzzxxxx"})
    assert resp.status_code == 200
    assert resp.get_json()["hits"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "x" * (MAX_QUERY_CHARS + 1)},
        {"query": 42},
        {"query": "a", "k": 0},
        {"query": "a", "k": MAX_K + 1},
        {"query": "a", "k": "5"},
        {"query": "a", "context": "nope"},
        {"query": "a", "debug": 1},
        ["query"],
        {},
    ],
)
def test_bad_input_is_a_json_400(client, body):
    resp = _post(client, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"]


def test_the_query_limit_is_inclusive_and_named_in_the_error(client):
    """At the limit a query is searched; one character more is refused (never truncated)."""
    at_limit = ("memories " * MAX_QUERY_CHARS)[:MAX_QUERY_CHARS]
    assert _post(client, {"query": at_limit, "k": 3}).status_code == 200
    resp = _post(client, {"query": at_limit + "x"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"] == (
        f"'query' is longer than the limit of {MAX_QUERY_CHARS} characters (got {MAX_QUERY_CHARS + 1})")


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00garbage", b"", b'{"query": "a"'])
def test_invalid_json_is_a_400(client, raw):
    resp = _post(client, raw, raw=True)
    assert resp.status_code == 400
    assert "JSON" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"query": "\\ud800"}', "'query'"),
        (b'{"query": "love \\udc00 me"}', "'query'"),
        (b'{"query": "a", "context": {"user": {"name": "\\udfff"}}}', "'context.user.name'"),
        (b'{"query": "a", "context": {"tags": ["ok", "\\ud83d"]}}', "'context.tags[1]'"),
        (b'{"query": "a", "context": {"\\ud800": 1}}', "a key in 'context'"),
        (b'{"\\ud800": 1, "query": "a"}', "a field name"),
    ],
)
def test_unpaired_surrogates_are_a_400_naming_the_field(client, raw, field):
    resp = _post(client, raw, raw=True)
    assert resp.status_code == 400
    message = resp.get_json()["error"]["message"]
    assert message.startswith(field) and "unpaired UTF-16 surrogate" in message


def test_a_surrogate_pair_is_one_valid_character(client):
    resp = _post(client, b'{"query": "love \\ud83d\\ude00"}', raw=True)
    assert resp.status_code == 200 and resp.get_json()["query"] == "love \U0001f600"


def _nested(depth: int, objects: bool = False) -> str:
    opener, closer = ('{"a": ', "}") if objects else ("[", "]")
    return opener * depth + "1" + closer * depth


@pytest.mark.parametrize("objects", [False, True])
def test_context_nesting_is_bounded(client, objects):
    at_limit = f'{{"query": "a", "context": {{"x": {_nested(MAX_CONTEXT_DEPTH - 1, objects)}}}}}'
    assert _post(client, at_limit, raw=True).status_code == 200
    over = f'{{"query": "a", "context": {{"x": {_nested(MAX_CONTEXT_DEPTH, objects)}}}}}'
    resp = _post(client, over, raw=True)
    assert resp.status_code == 400 and f"deeper than {MAX_CONTEXT_DEPTH}" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("objects", [False, True])
def test_nesting_too_deep_to_decode_is_a_400(client, objects):
    depth = MAX_BODY_BYTES // (7 if objects else 2) - 20  # as deep as the body limit allows
    resp = _post(client, f'{{"query": "a", "context": {_nested(depth, objects)}}}', raw=True)
    assert resp.status_code == 400 and resp.get_json()["error"]["message"] == "request body is nested too deeply"


def test_an_integer_too_long_to_convert_is_a_400(client):
    resp = _post(client, '{"query": "a", "k": ' + "9" * 5000 + "}", raw=True)
    assert resp.status_code == 400 and "JSON" in resp.get_json()["error"]["message"]


@st.composite
def bodies(draw) -> bytes:
    """A body as a client writes it: lone surrogates as `\\ud800` escapes, or as (invalid) UTF-8 bytes."""
    escape = draw(st.booleans())

    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=escape)

    objects = st.dictionaries(TEXT, CONTEXTS, max_size=4).map(dumps)
    context = draw(objects | deep_json().map(lambda deep: '{"deep": ' + deep + "}"))
    fields = [f'"query": {dumps(draw(QUERIES))}', f'"context": {context}']
    k = draw(st.none() | st.integers(1, MAX_K).map(str) | NUMBERS)
    if k is not None:
        fields.append(f'"k": {k}')
    return ("{" + ", ".join(fields) + "}").encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=bodies())
def test_no_input_makes_a_500(client, raw):
    """Whatever the text and the nesting, the answer is JSON: a page (200) or an error the client can fix."""
    resp = _post(client, raw, raw=True)
    tally("http: /search generated (test_http)", resp.status_code)
    error = resp.get_json().get("error") or {}
    event(f"HTTP {resp.status_code} {error.get('message', '')[:24]}")  # see --hypothesis-show-statistics
    assert resp.status_code in (200, 400, 413), resp.get_data()[:300]
    body = resp.get_json()
    if resp.status_code == 200:
        assert isinstance(body["hits"], list)
    else:
        assert body["error"]["status"] == resp.status_code and body["error"]["message"]


def test_huge_body_is_413_json(client):
    resp = _post(client, {"query": "a", "context": {"blob": "x" * 100_000}})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["status"] == 413


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").get_json()["error"]["status"] == 404
    assert client.get("/search").get_json()["error"]["status"] == 405


@pytest.mark.parametrize("text", ['"}}, {"match_all": {}}', "{{size}}", "\\", "ünï ☃", "<b>x</b>", "a\tb\nc"])
def test_hostile_queries_are_searched_as_text(client, text):
    resp = _post(client, {"query": text})
    assert resp.status_code == 200
    assert resp.get_json()["query"] == text.strip()


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_healthz_names_the_ranker_that_serves_and_says_when_it_falls_back(small_searcher):
    """/healthz said "ok" with the configured model's name while every search fell back to
    fusion (issue 23, item 4): it now names the ranker as search responses do and is
    "degraded" (200: searches are served) while the ranker fails, "ok" once it ranks again."""
    from dataclasses import dataclass, replace

    @dataclass
    class Flaky:
        kind: str = "xgboost"
        name: str = "music-20261201"
        broken: bool = True

        def score(self, engine, text, understanding, candidates, vector=None):
            if self.broken:
                raise RuntimeError("cannot log features: the node refused ltr_log")
            return [1.0 / (i + 1) for i in range(len(candidates))]

    ranker = Flaky()
    client = create_app(replace(small_searcher, ranker=ranker)).test_client()
    page = client.post("/search", json={"query": "memories"}).get_json()
    assert page["ranker"] == "rrf (fallback: xgboost failed)"
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert (body["status"], body["ranker"]) == ("degraded", page["ranker"])
    assert "ltr_log" in body["ranker_error"]
    ranker.broken = False
    assert client.post("/search", json={"query": "memories"}).get_json()["ranker"] == "xgboost:music-20261201"
    body = client.get("/healthz").get_json()
    assert (body["status"], body["ranker"]) == ("ok", "xgboost:music-20261201") and "ranker_error" not in body


def test_over_a_real_wsgi_server(small_searcher):
    """The production path: waitress on 127.0.0.1, real HTTP requests."""
    import threading

    import requests
    from waitress.server import create_server

    server = create_server(create_app(small_searcher), host="127.0.0.1", port=0, threads=2)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        ok = requests.post(f"{base}/search", json={"query": "memories", "k": 2}, timeout=10)
        assert ok.status_code == 200 and len(ok.json()["hits"]) == 2
        bad = requests.post(f"{base}/search", data=b"{oops", headers={"Content-Type": "application/json"}, timeout=10)
        assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/json"
        assert requests.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
    finally:
        server.close()


def test_timed_out_arm_flags_the_page_partial(small_searcher):
    from dataclasses import replace

    from es_ltrr.serving.contract import parse_search_request

    class SlowFirstArm:
        flavor = small_searcher.engine.flavor

        def msearch(self, bodies):
            responses = small_searcher.engine.msearch(bodies)
            return [{**responses[0], "timed_out": True}, *responses[1:]]

        def health(self):
            return small_searcher.engine.health()

    result = replace(small_searcher, engine=SlowFirstArm()).search(parse_search_request({"query": "memories"}))
    assert result.partial is True
    assert result.arm_results[0].timed_out is True and result.hits
