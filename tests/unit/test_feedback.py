"""The feedback loop on the small real-data index: UBI events validated field by field,
logged durably and idempotently (threads and processes), folded into the policy, and
replayed into the identical state; `POST /feedback` and `es-ltrr replay` contracts."""

from __future__ import annotations

import json
import multiprocessing
import threading
from dataclasses import replace

import pytest

from es_ltrr.feedback import MAX_BATCH, EventError, FeedbackLoop, FeedbackStore, Impression, parse_event
from es_ltrr.feedback.loop import replay
from es_ltrr.retrieval.policy import ThompsonPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.http import create_app


def event(query_id, object_id="t1", action="click", **more):
    return {"query_id": query_id, "action_name": action, "object_id": object_id, **more}


@pytest.mark.parametrize("payload, field", [
    ([], "JSON object"),
    ({"action_name": "click", "object_id": "a"}, "'query_id' is required"),
    ({"query_id": "q", "object_id": "a"}, "'action_name' is required"),
    ({"query_id": "q", "action_name": "dance", "object_id": "a"}, "'action_name' must be one of"),
    ({"query_id": "q", "action_name": "click"}, "'object_id' (or 'event_attributes.object.object_id') is required"),
    (event("q", event_attributes={"object": "t"}), "'event_attributes.object' must be an object"),
    ({"query_id": "q", "action_name": "click", "event_attributes": {"object": {"object_id": 5}}},
     "'event_attributes.object.object_id' must be"),
    ({"query_id": "", "action_name": "click", "object_id": "a"}, "'query_id' must be a non-empty string"),
    ({"query_id": 7, "action_name": "click", "object_id": "a"}, "'query_id' must be"),
    (event("q", timestamp="yesterday"), "'timestamp' must be ISO-8601"),
    (event("q", timestamp=True), "'timestamp'"),
    (event("q", event_attributes=[]), "'event_attributes' must be an object"),
    (event("q", event_attributes={"position": {"ordinal": -1}}), "'event_attributes.position.ordinal'"),
    (event("q", event_attributes={"position": {"ordinal": "3"}}), "'event_attributes.position.ordinal'"),
    (event("q", event_attributes={"dwell_ms": -5}), "'event_attributes.dwell_ms'"),
    (event("q", colour="red"), "unknown field(s): 'colour'"),
    (event("q", event_id="x" * 600), "'event_id' must be"),
    (event("q\ud800"), "unpaired UTF-16 surrogate"),
    (event("q", session_id="\udfff"), "unpaired UTF-16 surrogate"),
])
def test_malformed_events_name_the_field(payload, field):
    with pytest.raises(EventError, match=field.replace("(", r"\(").replace(")", r"\)")):
        parse_event(payload)


def test_event_keys_and_weights():
    a = parse_event(event("q", timestamp="2026-11-30T12:00:00Z"))
    assert a.key.startswith("sha256:") and a.key == parse_event(event("q", timestamp="2026-11-30T12:00:00Z")).key
    assert parse_event(event("q", event_id="e-1")).key == "e-1"
    assert parse_event(event("q", action="skip")).weight < 0 < parse_event(event("q", action="play")).weight
    assert parse_event(event("q", timestamp=1764504000)).timestamp == "2025-11-30T12:00:00+00:00"
    assert parse_event(event("q", timestamp=1764504000000)).timestamp == "2025-11-30T12:00:00+00:00"  # ms
    assert parse_event(event("q", action="stream"), weights={"stream": 2.0}).weight == 2.0
    ubi = parse_event({"query_id": "q", "action_name": "click", "session_id": "s", "event_attributes": {
        "object": {"object_id": "t-9", "object_id_field": "track_id"}, "position": {"ordinal": 3}}})
    assert (ubi.object_id, ubi.object_id_field, ubi.position) == ("t-9", "track_id", 3)


@pytest.fixture
def served(small_searcher, tmp_path):
    """A searcher with a fast-learning Thompson policy, its log, and three logged searches."""
    policy = ThompsonPolicy(seed=3, burn_in=2)
    searcher = replace(small_searcher, policy=policy)
    loop = FeedbackLoop(FeedbackStore(tmp_path / "feedback.sqlite3"), policy)
    results = []
    for query in ["memories maroon 5", "happy songs", "rock"]:
        result = searcher.search(parse_search_request({"query": query}))
        loop.log_search(result)
        results.append(result)
    return searcher, loop, results


def test_impressions_round_trip(served):
    _, loop, results = served
    for result in results:
        logged = loop.store.impression(result.impression_id)
        assert logged == Impression.of(result)
        assert Impression.from_json(logged.to_json()) == logged


def test_events_are_logged_once_and_update_the_policy(served):
    _, loop, results = served
    first = results[0]
    report = loop.ingest([event(first.impression_id, first.ids[0], "play", event_id="e1"),
                          event(first.impression_id, first.ids[1], event_id="e2"),
                          event("no-such-impression", event_id="e3"),
                          {"query_id": first.impression_id}])
    assert (report.accepted, report.duplicates) == (2, 0)
    assert [(e["index"], e["status"]) for e in report.errors] == [(2, 404), (3, 400)]
    assert loop.policy.n_updates_ == 2 and loop.log_seq == 2
    again = loop.ingest([event(first.impression_id, first.ids[0], "play", event_id="e1")])
    assert (again.accepted, again.duplicates) == (0, 1)
    assert loop.policy.n_updates_ == 2
    assert loop.store.counts() == {"impressions": 3, "events": 2, "duplicates_ignored": 1}


def test_an_event_for_an_entity_the_search_did_not_show_is_refused(served):
    """`{"query_id": <valid>, "action_name": "play", "object_id": "doesnotexist"}` was accepted
    (issue 23, item 7). An event names what the impression showed — a hit or one of the
    versions collapsed into it (`variants`) — else it is refused (400, naming `object_id`),
    logged nowhere, and learned from by nothing."""
    searcher, loop, results = served
    result = next(r for r in (searcher.search(parse_search_request({"query": q})) for q in
                              ["memories", "dance pop", "love", "remix", "i dont care"]) if r.variants and any(r.variants))
    loop.log_search(result)
    shown = set(result.ids) | {v for j in range(len(result.page)) for v in result.variant_ids(j)}
    unseen = next(i for arm in result.arm_results for i in arm.ids if i not in shown)  # a candidate not shown
    variant = next(v for j in range(len(result.page)) for v in result.variant_ids(j))
    report = loop.ingest([event(result.impression_id, "doesnotexist", "play", event_id="a"),
                          event(result.impression_id, unseen, "play", event_id="b"),
                          event(result.impression_id, variant, "play", event_id="c"),
                          event(result.impression_id, result.ids[0], "skip", event_id="d")])
    assert report.accepted == 2
    assert [(e["index"], e["status"]) for e in report.errors] == [(0, 400), (1, 400)]
    assert "'object_id' 'doesnotexist' was not shown by impression" in report.errors[0]["error"]
    assert loop.policy.n_updates_ == 1 and loop.store.counts()["events"] == 2


def test_the_fold_credits_no_entity_the_search_did_not_show(served):
    """Events that reach the log by another way than `ingest` — pulled from another replica's
    UBI mirror, or logged before the check — are folded without credit for an unseen entity."""
    from es_ltrr.feedback import Q2EMemory

    _, loop, results = served
    loop.memory = Q2EMemory(None, loop.store)  # only its pending pairs are looked at
    result = results[0]
    loop.store.add_events([parse_event(event(result.impression_id, "doesnotexist", "play", event_id="x")),
                           parse_event(event(result.impression_id, result.ids[0], "play", event_id="y"))])
    assert loop.fold() == 2
    assert loop.policy.n_updates_ == 1
    assert loop._memory_pending == {(result.request.query, result.ids[0])}


def test_impressions_logged_before_variants_were_kept_accept_any_candidate(served):
    """An impression logged by an older es-ltrr holds the page but not the variants: what it
    showed is then taken to be the page and every arm's candidates."""
    import json as json_

    _, loop, results = served
    result = results[0]
    old = json_.loads(Impression.of(result).to_json())
    del old["variants"]
    legacy = Impression.from_json(json_.dumps(old))
    candidate = next(i for arm in result.arm_results for i in arm.ids if i not in result.ids)
    assert candidate in legacy.shown and "doesnotexist" not in legacy.shown
    assert candidate not in Impression.of(result).shown or candidate in {
        v for j in range(len(result.page)) for v in result.variant_ids(j)}


def test_a_skip_is_logged_but_rewards_no_arm(served):
    _, loop, results = served
    loop.ingest(event(results[1].impression_id, results[1].ids[0], "skip"))
    assert loop.store.counts()["events"] == 1 and loop.policy.n_updates_ == 0


def test_replay_gives_exactly_the_online_state(served):
    searcher, loop, results = served
    for i in range(30):
        result = searcher.search(parse_search_request({"query": ["rock", "happy songs", "memories"][i % 3]}))
        loop.log_search(result)
        loop.ingest([event(result.impression_id, result.ids[j], "click", event_id=f"r{i}-{j}") for j in range(2)])
    fresh = ThompsonPolicy(seed=99, burn_in=2)
    replay(loop.store, fresh)
    assert fresh.state()["learned"] == loop.policy.state()["learned"]
    assert fresh.n_updates_ == 60


def _post_same_events(path: str, impression_id: str, offset: int) -> None:
    store = FeedbackStore(__import__("pathlib").Path(path))
    for i in range(40):
        store.add_events([parse_event(event(impression_id, f"t{(i + offset) % 50}", event_id=f"k{(i + offset) % 50}"))])


def test_concurrent_threads_and_processes_count_each_event_once(served, tmp_path):
    _, loop, results = served
    impression = results[0].impression_id
    path = str(loop.store.path)
    threads = [threading.Thread(target=_post_same_events, args=(path, impression, k * 5)) for k in range(4)]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_post_same_events, args=(path, impression, k * 7)) for k in range(2)]
    for worker in threads + processes:
        worker.start()
    for worker in threads + processes:
        worker.join(timeout=120)
    assert all(p.exitcode == 0 for p in processes)
    distinct = {(i + off) % 50 for off in [0, 5, 10, 15, 0, 7] for i in range(40)}
    counts = loop.store.counts()
    assert counts["events"] == len(distinct)
    assert counts["events"] + counts["duplicates_ignored"] == 6 * 40


@pytest.fixture
def client(served):
    searcher, loop, _ = served
    return create_app(searcher, loop).test_client(), loop


def test_http_feedback_contract(client):
    http, loop = client
    body = http.post("/search", json={"query": "memories maroon 5"}).get_json()
    qid, first = body["impression_id"], body["hits"][0]["id"]
    ok = http.post("/feedback", json=event(qid, first, "play", event_attributes={"position": {"ordinal": 1}}))
    assert ok.status_code == 200 and ok.get_json() == {"accepted": 1, "duplicates": 0, "errors": []}
    assert http.post("/feedback", json=event("nope", first)).status_code == 404
    bad = http.post("/feedback", json={"query_id": qid, "action_name": "click"})
    assert bad.status_code == 400 and "'object_id'" in bad.get_json()["error"]["message"]
    unseen = http.post("/feedback", json=event(qid, "doesnotexist", "play"))
    assert unseen.status_code == 400
    assert unseen.get_json()["error"]["message"].startswith(f"'object_id' 'doesnotexist' was not shown by impression {qid}")
    batch = http.post("/feedback", json=[event(qid, first, event_id="b1"), {"query_id": qid}, event(qid, first, event_id="b1")])
    assert batch.status_code == 200
    assert batch.get_json()["accepted"] == 1 and batch.get_json()["duplicates"] == 1
    assert batch.get_json()["errors"][0]["index"] == 1
    too_many = http.post("/feedback", json=[event(qid, first)] * (MAX_BATCH + 1))
    assert too_many.status_code == 413
    assert http.post("/feedback", data=b"{not json").status_code == 400
    assert http.post("/search", data=b" " * (70 * 1024), content_type="application/json").status_code == 413


def test_feedback_without_a_log_is_503(small_searcher):
    http = create_app(small_searcher).test_client()
    assert http.post("/feedback", json=event("q")).status_code == 503


def test_cli_search_logs_and_replay_reports(cli, tmp_path):
    result = cli("search", "rock", "--json")
    qid = json.loads(result.stdout)["impression_id"]
    store = FeedbackStore(tmp_path / "d" / "logs" / "feedback.sqlite3")
    assert store.impression(qid) is not None
    from es_ltrr.common.datadir import DataDir
    policy = ThompsonPolicy()
    loop = FeedbackLoop.open(DataDir(tmp_path / "d"), policy)
    hit = json.loads(result.stdout)["hits"][0]["id"]
    loop.ingest([event(qid, hit, event_id="1"), event(qid, hit, event_id="1")])
    loop.save()
    out = cli("replay", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"impressions": 1, "events": 1, "duplicates_ignored": 1, "state_equal": True}


def test_the_q2e_memory_learns_a_misspelling_users_resolve(small_searcher, tmp_path):
    """20 users type a query no arm's memory knows and play the same song; afterwards the q2e
    arm returns that song first, and the cold-start keys of the song are kept."""
    import copy

    from es_ltrr.feedback import Q2EMemory
    from es_ltrr.retrieval.arms import ArmInput
    from es_ltrr.retrieval.policy import StaticPolicy
    from es_ltrr.understanding import understand

    searcher = replace(small_searcher, engine=copy.copy(small_searcher.engine), policy=StaticPolicy())
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    target = searcher.search(parse_search_request({"query": "memories maroon 5"})).ids[0]
    before = searcher.engine.get([target])[target]["q2e"]
    query = "memorys maroonn fiv"

    def q2e_top() -> list[str]:
        inp = ArmInput(query, understand(query, searcher.gazetteer), catalog=searcher.catalog)
        response = searcher.retrieve(inp, StaticPolicy({"q2e": 10}).choose(None, ["q2e"]))
        return [h["_id"] for h in response.get("q2e", {}).get("hits", {}).get("hits", [])]

    assert q2e_top()[:1] != [target]
    for user in range(20):
        result = searcher.search(parse_search_request({"query": query}))
        loop.log_search(result)
        loop.ingest(event(result.impression_id, target, "play", client_id=f"user-{user}"))
    loop.learn_memory()  # the server does this every --memory-interval
    assert q2e_top()[0] == target
    after = searcher.engine.get([target])[target]["q2e"]
    assert after["memorys_maroonn_fiv"] > 0.5 and {k: v for k, v in after.items() if k in before} == before
    assert small_searcher.engine.get([target])[target]["q2e"] == before  # the shared fixture is untouched


def test_a_search_nobody_engages_with_teaches_the_policy_after_the_window(served):
    """No event within the engagement window: the loop logs one no-engagement event per such
    search (once, whoever closes it), the policy learns from it, and replay learns the same."""
    from es_ltrr.feedback.events import NO_ENGAGEMENT
    from es_ltrr.feedback.loop import replay

    _, loop, results = served
    loop.ingest([event(results[0].impression_id, results[0].ids[0], "play", event_id="e1")])
    before = loop.policy.n_updates_
    assert loop.close_unengaged(now=results[-1].served_at + 1) == 0  # inside the window: not yet
    later = results[-1].served_at + loop.engagement_window_s + 1
    assert loop.close_unengaged(now=later) == 2  # "happy songs" and "rock": nobody engaged
    assert loop.close_unengaged(now=later) == 0
    loop.fold()
    assert loop.policy.n_updates_ == before + 2
    actions = [a for _, _, a, _, _ in loop.store.events_after(0)]
    assert actions.count(NO_ENGAGEMENT) == 2
    twin = FeedbackLoop(loop.store, ThompsonPolicy(seed=3, burn_in=2), engagement_window_s=loop.engagement_window_s)
    assert twin.close_unengaged(now=later) == 0  # another process sharing the log: already closed
    fresh = replay(loop.store, ThompsonPolicy(seed=3, burn_in=2))
    assert fresh.policy.state()["learned"] == loop.policy.state()["learned"]
