"""Hostile query text against a real node: through `POST /search` a page (200) or a 400, never
a 5xx or an arm failing on a script or parse error; and no query made of injection fragments
widens any arm's search to the whole index."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from es_ltrr.retrieval.arms import ARMS, ArmInput
from es_ltrr.serving.http import create_app
from es_ltrr.understanding import understand

from ..hostile import INJECTION_TEXT, PURE_INJECTIONS, tally

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def http(cluster_searcher):
    return create_app(cluster_searcher).test_client()


def check_page(resp) -> None:
    tally("node: hostile queries", resp.status_code)
    assert resp.status_code in (200, 400), resp.get_data()[:300]
    body = resp.get_json()
    if resp.status_code == 400:
        assert body["error"]["message"]
        return
    for arm in body["arms"]:
        assert arm["status"] != "error", arm


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=INJECTION_TEXT)
def test_hostile_queries_are_a_page_or_a_400(http, text):
    check_page(http.post("/search", json={"query": text, "k": 5}))


@pytest.mark.parametrize("text", PURE_INJECTIONS)
def test_injection_fragments_never_widen_a_search_on_the_node(cluster_searcher, engine, settings, flavor, text):
    """Each arm's body for a pure-injection query, asked for 10,000 hits on the node, matches
    fewer documents than the index holds."""
    check_page(create_app(cluster_searcher).test_client().post("/search", json={"query": text}))
    everything = engine.request("GET", f"/{settings.index}/_count")["count"]
    inp = ArmInput(text, understand(text, cluster_searcher.gazetteer), seed=1, memory=engine.capabilities.memory)
    bodies = {name: arm.render(inp, 10_000, flavor) for name, arm in ARMS.items()}
    bodies = {name: body for name, body in bodies.items() if body is not None}
    responses = engine.msearch(list(bodies.values()))
    assert bodies and len(responses) == len(bodies), "no arm applied, or not every arm answered"
    for name, response in zip(bodies, responses):
        tally("node: pure injection arm bodies", int(response.get("status", 200)))
        assert "error" not in response, (name, response.get("error"))
        assert response["hits"]["total"]["value"] < everything, (name, text)
