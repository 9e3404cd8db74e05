"""Simulated users (es_ltrr.evaluation.simulation.users): queries, relevance, splits, typos and clicks.

Everything runs on a hand-made catalog of a few dozen entities, except one slow test on the
real catalog (intent mix, non-empty relevance, overlap with the cold-start Q2E queries).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from es_ltrr.catalog import predicted_queries
from es_ltrr.common.analysis import q2e_key
from es_ltrr.evaluation.simulation import (
    INTENT_MIX,
    INTENTS,
    ClickModel,
    QueryGenerator,
    SimulatedQuery,
    drop_words,
    is_holdout,
    misspell_text,
    split,
    typo,
)
from es_ltrr.evaluation.simulation.typos import KEYBOARD_NEIGHBOURS
from es_ltrr.evaluation.simulation.users import NAVIGATIONAL

# --- a small catalog ------------------------------------------------------------------


def _track(tid, name, artist, genres, subgenres, moods, year, pop, album=None):
    return {"id": tid, "type": "track", "name": name, "artist": artist, "album": album or name,
            "genres": genres, "subgenres": subgenres, "moods": moods, "release_year": year,
            "popularity": pop}


TRACKS = [
    _track("t1", "Bohemian Rhapsody", "Queen", ["rock"], ["classic rock"], ["intense"], 1975, 90, "A Night at the Opera"),
    _track("t2", "Bohemian Rhapsody - Remastered 2011", "Queen", ["rock"], ["classic rock"], ["intense"], 1975, 70, "A Night at the Opera"),
    _track("t3", "Bohemian Rhapsody (Live Aid)", "Queen", ["rock"], ["classic rock"], ["energetic"], 1985, 40),
    _track("t4", "Don't Stop Me Now", "Queen", ["rock"], ["classic rock"], ["happy", "energetic"], 1978, 85),
    _track("t5", "Another One Bites the Dust", "Queen", ["rock", "r&b"], ["classic rock"], ["danceable"], 1980, 80),
    _track("t6", "Smells Like Teen Spirit", "Nirvana", ["rock"], ["permanent wave"], ["intense", "energetic"], 1991, 88),
    _track("t7", "Come as You Are", "Nirvana", ["rock"], ["permanent wave"], ["chill"], 1991, 75),
    _track("t8", "Heart-Shaped Box", "Nirvana", ["rock"], ["permanent wave"], ["sad"], 1993, 60),
    _track("t9", "Shape of You", "Ed Sheeran", ["pop"], ["dance pop"], ["happy", "danceable"], 2017, 95),
    _track("t10", "Perfect", "Ed Sheeran", ["pop"], ["post-teen pop"], ["chill", "acoustic"], 2017, 87),
    _track("t11", "Thinking Out Loud", "Ed Sheeran", ["pop"], ["post-teen pop"], ["acoustic", "sad"], 2014, 84),
    _track("t12", "Photograph", "Ed Sheeran", ["pop"], ["post-teen pop"], ["acoustic", "chill"], 2014, 78),
    _track("t13", "Bad Guy", "Billie Eilish", ["pop"], ["electropop"], ["danceable"], 2019, 93),
    _track("t14", "When the Party's Over", "Billie Eilish", ["pop"], ["electropop"], ["sad", "chill", "acoustic"], 2018, 82),
    _track("t15", "Lose Yourself", "Eminem", ["rap"], ["hip hop"], ["intense", "energetic"], 2002, 89),
    _track("t16", "Without Me", "Eminem", ["rap"], ["hip hop"], ["happy", "danceable"], 2002, 86),
    _track("t17", "The Real Slim Shady", "Eminem", ["rap"], ["hip hop"], ["happy", "danceable"], 2000, 84),
    _track("t18", "Mockingbird", "Eminem", ["rap"], ["hip hop"], ["sad"], 2004, 80),
    _track("t19", "Sicko Mode", "Travis Scott", ["rap"], ["trap"], ["energetic"], 2018, 85),
    _track("t20", "Goosebumps", "Travis Scott", ["rap"], ["trap"], ["chill", "sad"], 2016, 83),
    _track("t21", "An Obscure Little Song About Nothing", "Nobody Known", ["rock"], ["permanent wave"], ["sad"], 2012, 3),
    _track("t22", "Café del Mar", "Energy 52", ["edm"], ["progressive electro house"], ["instrumental", "chill"], 1993, 45),
]


def _aggregate(eid, kind, name, members, **extra):
    genres = list(dict.fromkeys(g for t in members for g in t["genres"]))
    subgenres = list(dict.fromkeys(g for t in members for g in t["subgenres"]))
    moods = list(dict.fromkeys(m for t in members for m in t["moods"]))
    return {"id": eid, "type": kind, "name": name, "genres": genres, "subgenres": subgenres,
            "moods": moods, "popularity": max(t["popularity"] for t in members),
            "release_year": max(t["release_year"] for t in members), **extra}


def _catalog():
    by_artist = {}
    for t in TRACKS:
        by_artist.setdefault(t["artist"], []).append(t)
    artists = [_aggregate(f"artist:{a.lower().replace(' ', '-')}", "artist", a, ts, artist=a)
               for a, ts in by_artist.items()]
    albums = [
        _aggregate("album:opera", "album", "A Night at the Opera", TRACKS[0:2], artist="Queen"),
        _aggregate("album:jazz", "album", "Jazz", [TRACKS[3]], artist="Queen"),
        _aggregate("album:nevermind", "album", "Nevermind", TRACKS[5:7], artist="Nirvana"),
        _aggregate("album:divide", "album", "÷ (Deluxe)", [TRACKS[8], TRACKS[9]], artist="Ed Sheeran"),
        _aggregate("album:x", "album", "x", [TRACKS[10], TRACKS[11]], artist="Ed Sheeran"),
        _aggregate("album:mmlp", "album", "The Marshall Mathers LP", [TRACKS[16]], artist="Eminem"),
    ]
    playlists = [
        _aggregate("playlist:rock-classics", "playlist", "Rock Classics", TRACKS[0:8]),
        _aggregate("playlist:pop-hits", "playlist", "Today's Top Hits 🔥", TRACKS[8:14]),
        _aggregate("playlist:rap-caviar", "playlist", "RapCaviar", TRACKS[14:20]),
    ]
    genres = [
        _aggregate(f"genre:{g}", "genre", g.title(), [t for t in TRACKS if g in t["genres"]])
        for g in ("rock", "pop", "rap", "edm")
    ]
    subgenres = [
        _aggregate(f"subgenre:{s.replace(' ', '-')}", "subgenre", s,
                   [t for t in TRACKS if s in t["subgenres"]])
        for s in ("classic rock", "permanent wave", "hip hop", "trap", "dance pop")
    ]
    for s in subgenres:
        s["subgenres"] = [s["name"]] + [x for x in s["subgenres"] if x != s["name"]]
    return [dict(t) for t in TRACKS] + artists + albums + playlists + genres + subgenres


ENTITIES = _catalog()
BY_ID = {e["id"]: e for e in ENTITIES}


@pytest.fixture(scope="module")
def gen():
    return QueryGenerator(ENTITIES, seed=7, holdout_share=0.2)


def _only(intent, **kw):
    return QueryGenerator(ENTITIES, seed=3, mix={intent: 1.0}, holdout_share=0.0, **kw)


def _labels(e):
    return {g.lower() for g in e.get("genres", []) + e.get("subgenres", [])}


def _edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# --- intents and relevance ------------------------------------------------------------


def test_the_mix_covers_every_intent_and_sums_to_one():
    assert set(INTENT_MIX) == set(INTENTS)
    assert sum(INTENT_MIX.values()) == pytest.approx(1.0)
    assert NAVIGATIONAL < set(INTENTS)


def test_an_unknown_intent_in_the_mix_is_an_error():
    with pytest.raises(ValueError, match="unknown intents"):
        QueryGenerator(ENTITIES, mix={"known_item": 0.5, "lyrics": 0.5})


@pytest.mark.parametrize("intent", INTENTS)
def test_every_intent_yields_queries_whose_target_is_graded_highest(intent):
    queries = _only(intent).generate(30, seed=1)
    assert len(queries) == 30
    for q in queries:
        assert q.intent == intent and q.text.strip() and q.text == " ".join(q.text.split())
        assert q.target in q.relevant and q.target in BY_ID
        assert q.grades[q.target] == 3 and q.grade(q.target) == 3
        assert all(q.grade(i) >= 2 for i in q.relevant)
        assert q.grade("no-such-id") == 0


def test_known_item_relevance_is_the_work_s_versions_and_the_artist_only_related():
    rng = random.Random(0)
    q = _only("known_item").query("known_item", "t1", rng)
    assert q.relevant == {"t1", "t2", "t3"}  # the remaster and the live version: one work
    assert q.grade("t2") == 2 and q.grade("t4") == 1  # same artist: related, not relevant
    assert q.grade("t9") == 0


@pytest.mark.parametrize("intent", ["mood_genre", "era_genre", "mood", "genre", "entity_type"])
def test_broad_relevance_meets_every_constraint_of_the_target(intent):
    queries = _only(intent).generate(40, seed=2)
    assert len(queries) == 40
    for q in queries:
        target = BY_ID[q.target]
        members = [BY_ID[i] for i in q.relevant]
        if intent == "mood_genre":
            shared_moods = set.intersection(*(set(e["moods"]) for e in members))
            shared_labels = set.intersection(*(_labels(e) for e in members))
            assert shared_moods & set(target["moods"]) and shared_labels & _labels(target)
            assert {e["type"] for e in members} <= {"track", "playlist"}
        elif intent == "era_genre":
            decades = {e["release_year"] // 10 for e in members}
            assert decades == {target["release_year"] // 10}
            assert set.intersection(*(_labels(e) for e in members)) & set(target["genres"])
        elif intent == "mood":
            assert set.intersection(*(set(e["moods"]) for e in members)) & set(target["moods"])
        elif intent == "genre":
            assert target["type"] in {"genre", "subgenre"}
            others = [e for e in members if e is not target]
            assert others and set.intersection(*(_labels(e) for e in others)) & _labels(target)
        elif target["type"] == "album":
            assert {e.get("artist") for e in members} == {target["artist"]}
            assert {e["type"] for e in members} == {"album"}
        else:
            assert len({e["type"] for e in members}) == 1


def test_broad_relevance_is_cut_to_the_most_popular_matches():
    qs = _only("mood", max_relevant=2).generate(30, seed=4)
    for q in qs:
        others = q.relevant - {q.target}
        assert len(others) <= 2
    q = next(q for q in qs if len(q.relevant - {q.target}) == 2)
    mood = next(m for m in BY_ID[q.target]["moods"]
                if all(m in BY_ID[i]["moods"] for i in q.relevant - {q.target}))
    same_mood = [e for e in ENTITIES if e["type"] in ("track", "playlist") and mood in e["moods"]]
    top2 = sorted(e["popularity"] for e in same_mood)[-2:]
    assert sorted(BY_ID[i]["popularity"] for i in q.relevant - {q.target}) == top2


def test_known_item_targets_are_popularity_biased_with_a_tail():
    counts = Counter(q.target for q in _only("known_item").generate(4000, seed=5))
    assert counts["t9"] > 5 * counts.get("t3", 0)  # popularity 95 vs 40
    assert counts["t21"] > 0  # popularity 3 is still searched sometimes


# --- seeds and splits -----------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), holdout=st.booleans())
def test_same_seed_same_queries(gen, seed, holdout):
    assert gen.generate(25, holdout=holdout, seed=seed) == gen.generate(25, holdout=holdout, seed=seed)


def test_other_seeds_other_queries_and_sample_continues_its_stream():
    a, b = QueryGenerator(ENTITIES, seed=1), QueryGenerator(ENTITIES, seed=1)
    assert a.sample(20) == b.sample(20)
    assert a.sample(20) != a.generate(20, seed=1) or a.sample(20) != b.sample(0)
    assert a.generate(30, seed=1) != a.generate(30, seed=2)


def test_holdout_and_train_queries_never_share_a_target(gen):
    train = gen.generate(300, holdout=False, seed=1)
    test = gen.generate(300, holdout=True, seed=1)
    assert not {q.holdout for q in train} - {False} and {q.holdout for q in test} == {True}
    assert {q.target for q in train}.isdisjoint(q.target for q in test)
    assert all(is_holdout(q.target, 0.2) for q in test)
    assert not any(is_holdout(q.target, 0.2) for q in train)


@given(ids=st.lists(st.text(min_size=1, max_size=12), max_size=40))
def test_split_partitions_ids_by_a_stable_hash(ids):
    train, holdout = split(ids)
    assert sorted(train + holdout) == sorted(ids)
    assert all(is_holdout(i) for i in holdout) and not any(is_holdout(i) for i in train)


def test_the_holdout_share_is_about_right():
    share = sum(is_holdout(f"track:{i}") for i in range(20000)) / 20000
    assert share == pytest.approx(0.2, abs=0.01)


# --- typos ----------------------------------------------------------------------------

WORDS = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéñ0123456789'"), min_size=1, max_size=15)


@given(word=WORDS, seed=st.integers(0, 2**32))
def test_a_typo_is_at_most_two_edits_and_never_empty(word, seed):
    out = typo(word, random.Random(seed))
    assert out and _edits(word, out) <= 2


@given(word=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=15), seed=st.integers(0, 2**32))
def test_a_typo_changes_every_ascii_word(word, seed):
    assert typo(word, random.Random(seed)) != word


def test_the_keyboard_map_is_symmetric_and_local():
    assert set(KEYBOARD_NEIGHBOURS["s"]) >= set("adwez")
    assert "p" not in KEYBOARD_NEIGHBOURS["a"]
    assert all(a in KEYBOARD_NEIGHBOURS[b] for a, near in KEYBOARD_NEIGHBOURS.items() for b in near)


@given(text=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=8), min_size=1, max_size=6).map(" ".join),
       seed=st.integers(0, 2**32))
def test_misspelt_text_keeps_its_words_and_mistypes_at_most_two(text, seed):
    out = misspell_text(text, random.Random(seed))
    before, after = text.split(), out.split()
    assert len(after) == len(before)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert 1 <= len(changed) <= 2 and all(_edits(a, b) <= 2 for a, b in changed)


@given(tokens=st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=6), min_size=1, max_size=8),
       seed=st.integers(0, 2**32))
def test_a_partial_title_is_a_shorter_subsequence(tokens, seed):
    out = drop_words(" ".join(tokens), random.Random(seed)).split()
    assert out
    it = iter(tokens)
    assert all(t in it for t in out)  # a subsequence, in order
    if len(tokens) >= 2:
        assert len(out) < len(tokens)
    if len(tokens) >= 3:
        assert len(out) >= 2


def test_typo_intents_mistype_the_name_not_the_template():
    queries = _only("artist_typo").generate(40, seed=3)
    assert len(queries) == 40
    for q in queries:
        name = BY_ID[q.target]["name"].lower()
        assert f" {name} " not in f" {q.text.lower()} "


# --- independence from the cold-start Q2E queries -------------------------------------


def _q2e_overlap(queries, by_id):
    hits = sum(q2e_key(q.text) in {q2e_key(k) for k in predicted_queries(by_id[q.target])}
               for q in queries)
    return hits / len(queries)


def test_queries_rarely_equal_a_predicted_q2e_query_of_their_target(gen):
    share = _q2e_overlap(gen.generate(1500, seed=11), BY_ID)
    print(f"q2e overlap share on the fixture catalog: {share:.1%}")
    assert share < 0.30
    typo_share = _q2e_overlap(_only("known_item_typo").generate(300, seed=1), BY_ID)
    assert typo_share < 0.05  # our typos are not the Q2E generator's typos


# --- clicks ---------------------------------------------------------------------------


def _query(intent="mood", target="t1", relevant=("t1", "t2"), grades=None):
    grades = grades or {"t1": 3, "t2": 2, "t4": 1}
    return SimulatedQuery("q", intent, target, frozenset(relevant), grades)


@settings(max_examples=50, deadline=None)
@given(page=st.lists(st.sampled_from(["t1", "t2", "t3", "t4", "t5", "x"]), max_size=12),
       seed=st.integers(0, 2**32), intent=st.sampled_from(INTENTS))
def test_clicks_are_page_ids_in_page_order_once_each(page, seed, intent):
    clicked = ClickModel(eta=0.5).clicks(page, _query(intent), random.Random(seed))
    assert len(set(clicked)) == len(clicked) and set(clicked) <= set(page)
    order = list(dict.fromkeys(page))
    assert [order.index(c) for c in clicked] == sorted(order.index(c) for c in clicked)


@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0])
def test_click_rates_match_examination_times_attractiveness(eta):
    model, rng, n = ClickModel(eta=eta), random.Random(42), 20000
    page, q = ["t1", "t2", "t4", "x"], _query("mood")
    counts = Counter(c for _ in range(n) for c in model.clicks(page, q, rng))
    for rank, (eid, grade) in enumerate([("t1", 3), ("t2", 2), ("t4", 1), ("x", 0)], start=1):
        expected = model.attractiveness[grade] / rank**eta
        assert counts[eid] / n == pytest.approx(expected, abs=0.015), (eid, rank)


def test_a_navigational_user_stops_after_clicking_the_target():
    always = ClickModel(attractiveness={0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}, eta=0.0)
    page = ["t2", "t1", "t4"]
    assert always.clicks(page, _query("known_item"), random.Random(0)) == ["t2", "t1"]
    assert always.clicks(page, _query("mood"), random.Random(0)) == page
    keep_going = ClickModel(attractiveness=always.attractiveness, eta=0.0, stop_after_target=False)
    assert keep_going.clicks(page, _query("known_item"), random.Random(0)) == page


def test_engagement_weighs_a_click_by_its_grade():
    q = _query()
    assert ClickModel().engagement(["t1", "t4", "x"], q) == {"t1": 1.0, "t4": 0.5, "x": 0.1}


# --- the real catalog -----------------------------------------------------------------


@pytest.mark.slow
def test_on_the_real_catalog_the_mix_holds_and_every_intent_has_relevant_results():
    from es_ltrr.catalog import load_catalog
    from es_ltrr.common.settings import Settings

    entities = load_catalog(Settings.load().catalog)
    gen = QueryGenerator(entities, seed=1)  # how long it takes is a benchmark's business, not a test's
    queries = gen.generate(4000, seed=1)
    counts = Counter(q.intent for q in queries)
    for intent, weight in INTENT_MIX.items():
        assert counts[intent] / len(queries) == pytest.approx(weight, abs=0.025), intent
        assert all(q.relevant - {q.target} or intent in NAVIGATIONAL
                   for q in queries if q.intent == intent)
    share = _q2e_overlap(queries, {e["id"]: e for e in entities})
    print(f"q2e overlap share on the real catalog: {share:.1%}")
    assert share < 0.30
