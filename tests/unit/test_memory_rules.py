"""The Q2E memory's rules (issue 22): reformulations learned by agreement, confirmed pairs
at rank 1, one client capped, skips lowering a pair — on the evidence alone (properties)
and through searches, events and the memory on the small catalog."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from es_ltrr.feedback import FeedbackLoop, FeedbackStore, Q2EMemory
from es_ltrr.feedback.evidence import ANONYMOUS, KeySearch, MemoryRules, key_evidence
from es_ltrr.retrieval.arms.q2e import CONFIRMED_VALUE, RANK_FEATURE_BOOST
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.contract import parse_search_request

from ..sessions import engage

ENTITIES = ["a", "b", "c"]
searches = st.builds(
    KeySearch,
    client=st.sampled_from([ANONYMOUS, "c1", "c2", "c3", "c4", "c5"]),
    weight=st.floats(0.01, 1.0),
    engaged=st.dictionaries(st.sampled_from(ENTITIES), st.sampled_from([0.5, 1.0]), max_size=2),
    skipped=st.dictionaries(st.sampled_from(ENTITIES), st.just(-0.5), max_size=1),
    reformulated=st.dictionaries(st.sampled_from(ENTITIES), st.just(1.0), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(searches, max_size=30), st.integers(1, 50))
def test_one_client_repeating_itself_weighs_one_vote(history, repeats):
    """However often one client repeats a search and its engagement, its vote per entity stays
    within the cap, and the key's searches grow by at most the cap."""
    spam = KeySearch("spammer", engaged={"a": 1.0})
    once = key_evidence(history + [spam])
    many = key_evidence(history + [spam] * repeats)
    assert many.searches == pytest.approx(once.searches)
    assert many.pairs["a"].votes == pytest.approx(once.pairs["a"].votes)


@settings(max_examples=300, deadline=None)
@given(st.lists(searches, max_size=40))
def test_votes_shares_and_confirmation_are_bounded(history):
    rules = MemoryRules()
    evidence = key_evidence(history, rules)
    clients = {s.client for s in history}
    assert evidence.searches <= len(clients) * rules.cap + 1e-9
    assert sum(p.share for p in evidence.pairs.values()) <= 1 + 1e-6
    for pair in evidence.pairs.values():
        assert abs(pair.votes) <= len(clients) * rules.cap + 1e-9
        assert pair.clients <= len(clients - {ANONYMOUS})
        if pair.confirmed:
            assert pair.clients >= rules.min_clients and pair.share >= rules.min_share and pair.votes > 0
    assert sum(p.confirmed for p in evidence.pairs.values()) <= 2  # a dominant share: one (two on a tie)


@settings(max_examples=200, deadline=None)
@given(st.lists(searches, max_size=30), st.sampled_from(ENTITIES))
def test_another_client_agreeing_never_lowers_a_pair(history, entity):
    before = key_evidence(history).pairs.get(entity)
    after = key_evidence(history + [KeySearch("newcomer", engaged={entity: 1.0})]).pairs[entity]
    assert after.votes >= (before.votes if before else 0.0) - 1e-9
    assert after.clients >= (before.clients if before else 0)


def test_reformulations_count_only_by_agreement_of_distinct_clients():
    hello = [KeySearch("c1", reformulated={"metallica": 1.0})] * 1000  # one client, a thousand times
    assert key_evidence(hello).pairs == {}
    anonymous = [KeySearch(ANONYMOUS, reformulated={"metallica": 1.0})] * 1000
    assert key_evidence(anonymous).pairs == {}
    two = [KeySearch(f"c{i}", reformulated={"gaga": 1.0}) for i in range(2)]
    assert key_evidence(two).pairs == {}
    many = [KeySearch(f"c{i}", reformulated={"gaga": 1.0}) for i in range(5)]
    pair = key_evidence(many).pairs["gaga"]
    assert pair.confirmed and pair.votes == pytest.approx(5 * MemoryRules().discount)
    direct = key_evidence([KeySearch(f"c{i}", engaged={"gaga": 1.0}) for i in range(5)]).pairs["gaga"]
    assert direct.votes > pair.votes  # a reformulation is discounted against a direct play


def test_the_confirmed_bound_matches_the_template():
    from es_ltrr.retrieval.arms.base import _template_text

    assert f'"boost": {int(RANK_FEATURE_BOOST)}' in _template_text("q2e", "embedded")


# -- through the pipeline and the memory on the small catalog ---------------------------------


@pytest.fixture
def world(small_searcher, tmp_path):
    """A searcher on its own copy of the small index, a log and a memory."""
    # a fixed explore order: the explore arm's random candidates would move ranks 2-3 by themselves
    searcher = replace(small_searcher, engine=copy.copy(small_searcher.engine), policy=StaticPolicy(),
                       seed_of=lambda _: 7)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    clock = [1_800_000_000.0]

    def tick() -> float:
        clock[0] += 5.0
        return clock[0]

    searcher.clock = tick

    def search(query, client=None, session=None, play=None, skip=None, plays=1):
        return engage(searcher, loop, query, client, session, play, skip, plays).ids

    def learn():
        loop.learn_memory()

    return searcher, search, learn, clock


def _q2e(searcher, entity):
    return searcher.engine.get([entity])[entity].get("q2e") or {}


def test_one_client_hello_to_metallica_teaches_nothing(world):
    searcher, search, learn, _ = world
    target = search("memories maroon 5")[0]
    before = search("hello")
    for n in range(20):  # the same client, again and again
        search("hello", client="c1", session=f"s{n}")
        search("memories maroon 5", client="c1", session=f"s{n}", play=target)
    learn()
    assert "hello" not in _q2e(searcher, target)
    assert search("hello")[:3] == before[:3]


def test_many_clients_reformulating_teach_the_nickname_and_it_reaches_rank_1(world):
    searcher, search, learn, _ = world
    target = search("memories maroon 5")[0]
    assert target not in search("mother monster")[:1]
    for n in range(4):
        assert target not in search("mother monster", client=f"c{n}", session="s")[:1]
        search("memories maroon 5", client=f"c{n}", session="s", play=target)
    learn()
    assert _q2e(searcher, target)["mother_monster"] > CONFIRMED_VALUE
    assert search("mother monster")[0] == target
    assert search("memories maroon 5")[0] == target  # the reformulation itself stays right


def test_a_session_without_engagement_after_the_window_teaches_nothing(world):
    searcher, search, learn, clock = world
    target = search("memories maroon 5")[0]
    for n in range(4):
        search("mother monster", client=f"c{n}", session="s")
        clock[0] += MemoryRules().window_s + 1
        search("memories maroon 5", client=f"c{n}", session="s", play=target)
    learn()
    assert "mother_monster" not in _q2e(searcher, target)


def test_one_client_cannot_steer_a_popular_query_but_many_agreeing_can(world):
    searcher, search, learn, _ = world
    query = "maroon 5"
    page = search(query)
    assert len(page) >= 5
    for n in range(3):  # users who find what they want
        search(query, client=f"fan{n}", play=page[0])
    learn()
    top3 = search(query)[:3]
    unrelated = next(i for i in reversed(search(query)) if i not in top3)
    for n in range(50):  # one client, 1,000 plays of an unrelated entity
        search(query, client="spammer", play=unrelated, plays=20)
    learn()
    assert search(query)[:3] == top3
    for n in range(50):  # anonymous spam is one client too
        search(query, play=unrelated, plays=20)
    learn()
    assert search(query)[:3] == top3
    for n in range(8):  # many distinct clients agreeing
        search(query, client=f"user{n}", play=unrelated)
    learn()
    assert search(query)[0] == unrelated


def test_skips_lower_a_pair(world):
    searcher, search, learn, _ = world
    query = "maroon 5"
    entity = search(query)[4]
    for n in range(4):
        search(query, client=f"c{n}", play=entity)
    learn()
    confirmed = _q2e(searcher, entity)["maroon_5"]
    assert confirmed > CONFIRMED_VALUE and search(query)[0] == entity
    for n in range(8):
        search(query, client=f"skipper{n}", skip=entity)
    learn()
    assert _q2e(searcher, entity)["maroon_5"] < min(1.0, confirmed - CONFIRMED_VALUE)
    assert search(query)[0] != entity


def test_a_confirmed_pair_leads_under_a_trained_model_and_the_feature_carries_it(world):
    """A model trained to rank by popularity alone (it never saw a learned memory value) still
    puts the confirmed entity first; the `q2e_memory` feature logs the learned value."""
    xgb = pytest.importorskip("xgboost")
    import numpy as np

    from es_ltrr.ranking import XGBoostRanker
    from es_ltrr.ranking.ltr import LtrModel, MsearchFeatureLogger, default_featureset, feature_params
    from es_ltrr.understanding import understand

    searcher, search, learn, _ = world
    featureset = default_featureset()
    column = featureset.names.index("log_popularity")
    rng = np.random.default_rng(0)
    x = rng.random((400, len(featureset.names))).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                        xgb.DMatrix(x, label=(x[:, column] > 0.5).astype(float)), num_boost_round=10)
    searcher.ranker = XGBoostRanker(LtrModel(booster, featureset, "popularity-only"))
    query = "maroon 5"
    page = search(query)
    entity = page[-1]
    assert page[0] != entity
    for n in range(4):
        search(query, client=f"c{n}", play=entity)
    learn()
    assert search(query)[0] == entity
    result = searcher.search(parse_search_request({"query": query}))
    assert result.ranker == "xgboost:popularity-only"
    candidates = list(result.candidates)
    params = feature_params(query, understand(query, searcher.gazetteer), candidates)
    values = MsearchFeatureLogger().log(searcher.engine, featureset, params, [c.id for c in candidates])
    memory = values[[c.id for c in candidates].index(entity), featureset.names.index("q2e_memory")]
    assert memory > CONFIRMED_VALUE


# -- the log's reading of sessions, against a reference model ----------------------------------

_steps = st.lists(st.tuples(st.sampled_from(["c1", "c2", None]), st.sampled_from(["s1", "s2", None]),
                            st.sampled_from(["mother monster", "lady gaga", "hello"]),
                            st.sampled_from([None, "gaga", "metallica"]), st.integers(1, 300)),
                  max_size=25)


@settings(max_examples=60, deadline=None)
@given(_steps)
def test_the_log_reads_reformulations_as_the_rule_says(tmp_path_factory, steps):
    """Random sessions written to the log: `key_searches` credits a search with the next
    search of its session (same client and session, within the window, another key) exactly
    when it earned nothing itself — checked against a direct reading of the rule."""
    from es_ltrr.common.analysis import q2e_key

    store = FeedbackStore(tmp_path_factory.mktemp("log") / "f.sqlite3")
    window = MemoryRules().window_s
    rows, t = [], 1_000_000.0
    with store._events:
        for n, (client, session, query, played, gap) in enumerate(steps):
            t += gap
            rows.append((f"i{n}", t, client, session, q2e_key(query), played))
            store._events.execute("INSERT INTO impressions (id, served_at, query, normalized, q2e_key, body, client_id,"
                                  " session_id) VALUES (?, ?, ?, ?, ?, '{}', ?, ?)",
                                  (f"i{n}", t, query, query, q2e_key(query), client, session))
            if played:
                store._events.execute("INSERT INTO events (event_key, query_id, action_name, object_id, object_id_field,"
                                      " timestamp, weight, received_at, body) VALUES (?, ?, 'play', ?, 'id', '', 1.0,"
                                      " ?, '{}')", (f"e{n}", f"i{n}", played, t))
    for key in {r[4] for r in rows}:
        got = store.key_searches(key, t, 30.0, window)
        mine = [r for r in rows if r[4] == key]
        assert len(got) == len(mine)
        for search, (iid, served, client, session, _, played) in zip(got, mine):
            assert search.client == (client or ANONYMOUS)
            assert search.engaged == ({played: 1.0} if played else {})
            expected = {}
            if not played and session is not None:
                later = [r for r in rows if r[3] == session and r[2] == client and served < r[1] <= served + window]
                if later and later[0][4] != key and later[0][5]:
                    expected = {later[0][5]: 1.0}
            assert search.reformulated == expected


# -- training reads the memory as each page saw it ----------------------------------------------


def test_training_features_are_those_the_page_was_served_with(small_searcher, tmp_path):
    """Clients play the 3rd hit of a query; the memory learns the pair. Training on those pages
    must see the memory as it was when each was served — not the value their own plays wrote
    since, which would "predict" the very click — and the candidates the log kept."""
    from es_ltrr.common.analysis import q2e_key
    from es_ltrr.ranking.ltr import default_featureset
    from es_ltrr.ranking.ltr.feature_log import feature_logger
    from es_ltrr.ranking.ltr.training import MEMORY_FEATURE, LoggedPage, collect_clicks
    from es_ltrr.retrieval.union import logged_candidates
    from es_ltrr.search.request import SearchRequest

    searcher = replace(small_searcher, engine=copy.copy(small_searcher.engine), policy=StaticPolicy(),
                       seed_of=lambda _: 7)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=Q2EMemory(searcher.engine, store))
    query = "memories maroon 5"
    target = engage(searcher, loop, query).ids[2]
    served = [engage(searcher, loop, query, client=f"c{n}", session=f"s{n}", play=target) for n in range(4)]
    assert loop.learn_memory() > 0
    learned = searcher.engine.get([target])[target]["q2e"][q2e_key(query)]
    engage(searcher, loop, query, client="c9", session="s9", play=target)  # served with the learned value

    for result in served:  # the log keeps what each arm returned, scores included
        logged = logged_candidates(store.impression(result.impression_id).arm_results)
        assert [(c.id, c.provenance) for c in logged] == [(c.id, c.provenance) for c in result.candidates]

    featureset = default_featureset()
    column = featureset.names.index(MEMORY_FEATURE)
    pages = [LoggedPage(imp.query, imp.id, imp.decision.allocations, imp.page, weights, imp.served_at,
                        imp.arm_results) for imp, weights in store.engaged_impressions()]

    def memory_of_target(memory_at) -> list[float]:
        examples = collect_clicks(pages, lambda page: searcher.search(SearchRequest(page.query, k=10)),
                                  searcher.engine, featureset, feature_logger(None, featureset), memory_at=memory_at)
        return [float(e.features[e.ids.index(target), column]) for e in examples]

    leaky = memory_of_target(None)
    assert leaky == pytest.approx([learned] * 5, rel=0.01)  # today's index: the plays' own value
    as_served = memory_of_target(lambda page, ids: store.memory_at(q2e_key(page.query), ids, page.served_at))
    assert len(as_served) == 5 and as_served[-1] == pytest.approx(learned, rel=0.01)
    for value in as_served[:-1]:  # served before the memory learned: the catalog's value, or none
        assert value != pytest.approx(learned, rel=0.01)


def test_a_new_process_on_the_embedded_engine_sees_the_memory_the_server_learned(small_catalog, tmp_path):
    """The embedded index on disk is the catalog's; what the memory learned lives in the log.
    A restarted server, `evaluate` and `train` each load the index anew: `build_searcher`
    writes the log's memory back, so they serve the pages the server did."""
    from es_ltrr.common.analysis import q2e_key
    from es_ltrr.common.datadir import DataDir
    from es_ltrr.common.settings import Settings
    from es_ltrr.serving.wiring import build_searcher

    settings = Settings.load(env={}, catalog=small_catalog, data_dir=tmp_path / "d", embed=False)
    server = build_searcher(settings, say=lambda _: None)
    loop = FeedbackLoop.open(DataDir(settings.data_dir), server.policy, engine=server.engine)
    query = "memories maroon 5"
    target = engage(server, loop, query).ids[2]
    for n in range(4):
        engage(server, loop, query, client=f"c{n}", session=f"s{n}", play=target)
    assert loop.learn_memory() > 0
    learned = _q2e(server, target)[q2e_key(query)]
    loop.store.close()

    said: list[str] = []
    restarted = build_searcher(settings, say=said.append)
    assert _q2e(restarted, target)[q2e_key(query)] == pytest.approx(learned, rel=1e-6)
    assert restarted.search(parse_search_request({"query": query})).ids[0] == target  # confirmed: first
    assert any("restored" in line for line in said), said


def test_an_entity_the_index_no_longer_holds_is_left_out_of_training(small_searcher):
    """A logged page can name an entity deleted from the catalog since: no feature matches it,
    so it is not a row of NaNs to learn from."""
    from es_ltrr.feedback.impression import Impression
    from es_ltrr.ranking.ltr import default_featureset
    from es_ltrr.ranking.ltr.feature_log import feature_logger
    from es_ltrr.ranking.ltr.training import LoggedPage, collect_clicks
    from es_ltrr.search.request import SearchRequest

    searcher = replace(small_searcher, policy=StaticPolicy(), seed_of=lambda _: 7)
    imp = Impression.of(searcher.search(SearchRequest("memories maroon 5", k=10)))
    lexical = next(r for r in imp.arm_results if r.arm == "lexical")
    gone = replace(lexical, ids=("deleted-entity", *lexical.ids), scores=(99.0, *lexical.scores))
    arms = [gone if r.arm == "lexical" else r for r in imp.arm_results]
    page = ("deleted-entity", *imp.page)
    logged = LoggedPage(imp.query, imp.id, imp.decision.allocations, page, {page[1]: 1.0}, imp.served_at, arms)
    featureset = default_featureset()
    [group] = collect_clicks([logged], lambda p: searcher.search(SearchRequest(p.query, k=10)), searcher.engine,
                             featureset, feature_logger(None, featureset))
    assert group.ids == list(imp.page) and not np.isnan(group.features).all(axis=1).any()
