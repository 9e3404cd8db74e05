"""End-to-end HTTP tests of the sidecar on a small slice of the real catalog."""

import json

import pytest

from es_ltrr.config import MAX_K, MAX_QUERY_CHARS
from es_ltrr.server import create_app


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


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00garbage", b"", b'{"query": "a"'])
def test_invalid_json_is_a_400(client, raw):
    resp = _post(client, raw, raw=True)
    assert resp.status_code == 400
    assert "JSON" in resp.get_json()["error"]["message"]


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

    from es_ltrr.api import parse_search_request

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
