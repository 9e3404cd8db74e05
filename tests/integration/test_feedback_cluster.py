"""The feedback loop against the real nodes: the Q2E memory learns through the alias.

20 users type a misspelling no memory knows and play the same song; afterwards the cluster's
q2e arm (the template the sidecar sends) returns that song first, and its cold-start keys
are kept. On the Elasticsearch integ-test node (no mapper-extras) the memory is a
sparse_vector queried with `term` (`Capabilities`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from es_ltrr.feedback import FeedbackLoop, FeedbackStore, Q2EMemory
from es_ltrr.retrieval.arms import ArmInput
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.understanding import understand

from ..sessions import engage

pytestmark = pytest.mark.cluster

QUERY = "memorys maroonn fiv"


def _q2e_top(searcher) -> list[str]:
    inp = ArmInput(QUERY, understand(QUERY, searcher.gazetteer), catalog=searcher.catalog)
    response = searcher.retrieve(inp, StaticPolicy({"q2e": 10}).choose(None, ["q2e"]))
    assert "error" not in response["q2e"], response
    return [h["_id"] for h in response["q2e"]["hits"]["hits"]]


def test_the_q2e_memory_learns_on_the_cluster(cluster_searcher, tmp_path):
    searcher = replace(cluster_searcher, policy=StaticPolicy())
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    target = searcher.search(parse_search_request({"query": "memories maroon 5"})).ids[0]
    before = searcher.engine.get([target])[target]["q2e"]
    assert _q2e_top(searcher)[:1] != [target]
    for user in range(20):
        result = searcher.search(parse_search_request({"query": QUERY}))
        loop.log_search(result)
        report = loop.ingest({"query_id": result.impression_id, "action_name": "play", "object_id": target,
                              "client_id": f"user-{user}"})
        assert report.accepted == 1
    loop.learn_memory()  # the server does this every --memory-interval
    assert _q2e_top(searcher)[0] == target
    after = searcher.engine.get([target])[target]["q2e"]
    assert after["memorys_maroonn_fiv"] > 0.5
    assert {k: v for k, v in after.items() if k in before} == before


def test_the_log_is_mirrored_into_ubi_indices(cluster_searcher, tmp_path):
    from es_ltrr.feedback import UbiMirror

    searcher = replace(cluster_searcher, policy=StaticPolicy())
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, mirror=UbiMirror(searcher.engine))
    result = searcher.search(parse_search_request({"query": "memories maroon 5", "context": {"client_id": "c-1"}}))
    loop.log_search(result)
    event = {"query_id": result.impression_id, "action_name": "play", "client_id": "c-1", "event_id": f"{result.impression_id}-e",
             "event_attributes": {"object": {"object_id": result.ids[0], "object_id_field": "id"},
                                  "position": {"ordinal": 1}}}
    assert loop.ingest([event, event]).accepted == 1
    loop.sync_cluster()  # the server's fold thread writes the mirror every --fold-interval
    engine = searcher.engine
    engine.request("POST", "/ubi_queries,ubi_events/_refresh")
    term = {"query": {"term": {"query_id": result.impression_id}}}
    (query,) = [h["_source"] for h in engine.request("POST", "/ubi_queries/_search", term)["hits"]["hits"]]
    assert query["user_query"] == "memories maroon 5" and query["client_id"] == "c-1"
    assert query["query_response_hit_ids"] == result.ids and query["application"] == "es-ltrr"
    events = [h["_source"] for h in engine.request("POST", "/ubi_events/_search", term)["hits"]["hits"]]
    assert len(events) == 1
    assert events[0]["action_name"] == "play" and events[0]["event_attributes"]["object"]["object_id"] == result.ids[0]
    assert events[0]["event_attributes"]["position"]["ordinal"] == 1


def test_the_ubi_indices_keep_a_single_node_green(cluster_searcher, tmp_path):
    """`number_of_replicas: 1` turned the single test node yellow (issue 23, item 8): the UBI
    indices now expand their replicas 0-1 (and an older es-ltrr's are healed)."""
    from es_ltrr.feedback import UbiMirror

    engine = cluster_searcher.engine
    loop = FeedbackLoop(FeedbackStore(tmp_path / "feedback.sqlite3"), StaticPolicy(), mirror=UbiMirror(engine))
    loop.log_search(cluster_searcher.search(parse_search_request({"query": "love"})))
    loop.sync_cluster()
    for index in ("ubi_queries", "ubi_events"):
        settings = engine.request("GET", f"/{index}/_settings")[index]["settings"]["index"]
        assert settings.get("auto_expand_replicas") == "0-1", settings
    health = engine.request("GET", "/_cluster/health/ubi_queries,ubi_events",
                            params={"wait_for_status": "green"})  # the node waits up to 30 s
    assert health["status"] == "green", health


def test_replicas_on_two_machines_share_the_log_through_ubi(cluster_searcher, tmp_path):
    """Two sidecars with their own SQLite logs (two machines) and one cluster: what A logs,
    B pulls from the UBI indices into its log (with whatever else the shared indices hold)
    and folds; its state is the replay of its own log."""
    from es_ltrr.feedback import UbiMirror
    from es_ltrr.feedback.events import DEFAULT_WEIGHTS
    from es_ltrr.feedback.loop import replay
    from es_ltrr.feedback.ubi import UbiSync
    from es_ltrr.retrieval.policy import ThompsonPolicy

    def replica(name: str) -> FeedbackLoop:
        store = FeedbackStore(tmp_path / name / "feedback.sqlite3")
        return FeedbackLoop(store, ThompsonPolicy(seed=1, burn_in=2), mirror=UbiMirror(cluster_searcher.engine),
                            sync=UbiSync(cluster_searcher.engine, DEFAULT_WEIGHTS))

    a, b = replica("a"), replica("b")
    searcher = replace(cluster_searcher, policy=a.policy)
    played = 0
    for query in ["memories maroon 5", "rock", "happy songs"]:
        result = searcher.search(parse_search_request({"query": query}))
        a.log_search(result)
        played += a.ingest([{"query_id": result.impression_id, "action_name": "play", "object_id": id_,
                             "event_id": f"{result.impression_id}-{id_}"} for id_ in result.ids[:2]]).accepted
    a.sync_cluster()  # writes the mirror
    cluster_searcher.engine.request("POST", "/ubi_queries,ubi_events/_refresh")
    pulled = b.sync_cluster()
    assert pulled >= played  # the shared indices may hold other tests' events too
    a_keys = {row[0] for row in a.store._read("SELECT event_key FROM events", ())}
    assert a_keys <= {row[0] for row in b.store._read("SELECT event_key FROM events", ())}
    assert b.fold() == pulled and b.policy.n_updates_ >= played
    fresh = ThompsonPolicy(seed=7, burn_in=2)
    replay(b.store, fresh)
    assert fresh.state()["learned"] == b.policy.state()["learned"]
    assert b.sync_cluster() == 0  # nothing new: what B holds is skipped
    assert b.store.counts()["duplicates_ignored"] == 0


def test_reformulations_by_agreement_lead_the_page_through_the_alias(cluster_searcher, tmp_path):
    """Issue 22 on the node: one client going "hello" → the song teaches nothing; four clients
    reformulating "mother monster" → the song put it at rank 1 of the page (through the alias,
    rank_features stored with 9 significant bits); one client's 1,000 plays of an unrelated
    entity leave a query's top 3 unchanged, many distinct clients agreeing move it, and skips
    lower the pair again; the UBI mirror carries client and session."""
    from es_ltrr.feedback import UbiMirror
    from es_ltrr.feedback.ubi import query_doc
    from es_ltrr.retrieval.arms.q2e import CONFIRMED_VALUE

    searcher = replace(cluster_searcher, policy=StaticPolicy(), seed_of=lambda _: 7)  # a fixed explore order
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    clock = [1_800_000_000.0]

    def tick():
        clock[0] += 5.0
        return clock[0]

    searcher.clock = tick

    def search(query, client=None, session=None, play=None, skip=None, plays=1):
        return engage(searcher, loop, query, client, session, play, skip, plays)

    target = search("memories maroon 5").ids[0]
    for n in range(3):
        search("hello", client="lonely", session=f"h{n}")
        search("memories maroon 5", client="lonely", session=f"h{n}", play=target)
    for n in range(4):
        assert search("mother monster", client=f"c{n}", session=f"s{n}").ids[:1] != [target]
        search("memories maroon 5", client=f"c{n}", session=f"s{n}", play=target)
    loop.learn_memory()
    q2e = searcher.engine.get([target])[target]["q2e"]
    assert q2e["mother_monster"] > 0.99 * CONFIRMED_VALUE and "hello" not in q2e
    assert search("mother monster").ids[0] == target
    assert search("memories maroon 5").ids[0] == target

    page = search("dance pop").ids
    top3, unrelated = page[:3], page[-1]
    for n in range(2):
        search("dance pop", client="spammer", play=unrelated, plays=500)
    loop.learn_memory()
    assert search("dance pop").ids[:3] == top3
    for n in range(6):
        search("dance pop", client=f"user{n}", play=unrelated)
    loop.learn_memory()
    assert search("dance pop").ids[0] == unrelated
    for n in range(12):
        search("dance pop", client=f"skipper{n}", skip=unrelated)
    loop.learn_memory()
    assert search("dance pop").ids[0] != unrelated

    logged = store.impression(search("rock", client="c-1", session="s-1").impression_id)
    doc = query_doc(logged, UbiMirror(searcher.engine).application)
    assert (doc["client_id"], doc["session_id"]) == ("c-1", "s-1")
