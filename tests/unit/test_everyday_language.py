"""Everyday language (issue 10, item 3): vocabulary beats fuzzy names, fuzzy matches need
few edits for their length, activities map to moods, emoji and symbols are tokens."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from es_ltrr.catalog import DEFAULT_CATALOG, read_spotify
from es_ltrr.catalog.moods import MOODS
from es_ltrr.common.analysis import q2e_key, symbols, words
from es_ltrr.retrieval.arms import ARMS
from es_ltrr.retrieval.arms.base import ArmInput
from es_ltrr.retrieval.engines.embedded import EmbeddedEngine
from es_ltrr.understanding import MOOD_SYNONYMS, Gazetteer, understand
from es_ltrr.understanding.fuzzy import best_fuzzy, max_edits, skeleton

EMPTY = Gazetteer.from_entities([])


def entity(eid: str, kind: str, name: str, pop: float = 70.0, **kw) -> dict:
    return {"id": eid, "type": kind, "name": name, "popularity": pop, **kw}


@pytest.fixture(scope="module")
def names() -> Gazetteer:
    """Names that a few edits turn into vocabulary: the traps of everyday queries."""
    return Gazetteer.from_entities([
        entity("artist:randy", "artist", "Randy"),
        entity("artist:focus", "artist", "Focus"),
        entity("album:dads", "album", "Songs for Dads", artist="Randy"),
        entity("t1", "track", "Happy Together", artist="The Turtles"),
    ])


def kinds(query: str, gaz: Gazetteer) -> list[tuple[str, object]]:
    return [(s.kind, s.value) for s in understand(query, gaz).slots]


# --- exact vocabulary wins over fuzzy names ------------------------------------------


def test_vocabulary_beats_fuzzy_names(names):
    assert kinds("songs for a rainy day", names) == [("entity_type", "track"), ("mood", "chill")]
    assert kinds("rainy songs", names) == [("mood", "chill"), ("entity_type", "track")]


def test_an_artist_named_like_vocabulary_yields_to_it(names):
    assert kinds("focus", names) == [("mood", "instrumental")]
    assert kinds("randy", names) == [("artist", "Randy")]  # the name itself still tags


def test_a_fuzzy_title_may_contain_vocabulary(names):
    # "happy" is part of the title and "togethr" is explained only by it
    assert kinds("happy togethr", names) == [("track", "Happy Together")]


# --- activities and moods -------------------------------------------------------------


@pytest.mark.parametrize(
    "query, mood",
    [
        ("music for studying", "instrumental"), ("study music", "instrumental"),
        ("focus", "instrumental"), ("workout", "energetic"), ("gym playlist", "energetic"),
        ("running", "energetic"), ("party", "danceable"), ("songs for a rainy day", "chill"),
        ("sleep", "chill"), ("road trip songs", "happy"), ("dinner", "acoustic"),
        ("instrumental songs", "instrumental"),
    ],
)
def test_activities_are_moods(query, mood):
    u = understand(query, EMPTY)
    assert [s.value for s in u.all("mood")] == [mood] and u.intent == "mood", u.to_dict()


def test_every_mood_has_vocabulary():
    assert set(MOOD_SYNONYMS) == set(MOODS)
    assert all(MOOD_SYNONYMS[m][0] == m for m in MOODS)


# --- fuzzy matches need few edits for their length ------------------------------------


def test_edit_budget_scales_with_length():
    assert [max_edits("x" * n) for n in (3, 4, 7, 8, 11, 12)] == [0, 1, 1, 2, 2, 3]


class _Popular:
    popularity = 1.0


LETTERS = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=14)


@settings(max_examples=300, deadline=None)
@given(LETTERS, st.lists(LETTERS, min_size=1, max_size=20, unique=True))
def test_fuzzy_hits_stay_within_the_edit_budget(text, keys):
    entries = {k: _Popular() for k in keys}
    hit = best_fuzzy(text, keys, skeleton, entries)
    if hit is not None:
        assert OSA.distance(text, hit[2]) <= max_edits(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=12))
def test_a_word_one_edit_away_still_matches(word):
    typo = word[:-1] + ("a" if word[-1] != "a" else "b")  # one substitution, first letter kept
    entries = {word: _Popular()}
    hit = best_fuzzy(typo, [word], skeleton, entries)
    if len(word) >= 5:  # a one-edit typo of ≥ 5 letters clears both the ratio and the budget
        assert hit is not None and hit[2] == word


# --- emoji and symbols ------------------------------------------------------------------


def test_symbols_are_tokens_and_keys():
    assert words("🔥🔥🔥") == ["🔥", "🔥", "🔥"] and symbols("❤️ A$AP | ★") == ["❤", "★"]
    assert q2e_key("🔥🔥🔥") == "🔥_🔥_🔥"
    u = understand("💊", EMPTY)
    assert u.tokens == ("💊",) and u.residual == ("💊",) and u.intent == "unknown"


def test_symbol_only_queries_reach_names_with_symbols():
    engine = EmbeddedEngine()
    engine.index([
        entity("playlist:rx", "playlist", "Dr. Q's Prescription Playlist💊"),
        entity("playlist:fire", "playlist", "Trap 2020 🔥"),
        entity("playlist:plain", "playlist", "Trap 2020"),
    ])
    gaz = Gazetteer.from_entities([])
    for query, expected in (("💊", ["playlist:rx"]), ("🔥🔥🔥", ["playlist:fire"])):
        u = understand(query, gaz)
        body = ARMS["lexical"].render(ArmInput(query, u), 10)
        (response,) = engine.msearch([body])
        assert [h["_id"] for h in response["hits"]["hits"]] == expected, query


def test_names_with_symbols_keep_their_plain_keys():
    gaz = Gazetteer.from_entities([entity("playlist:fire", "playlist", "Trap Nation 🔊")])
    assert understand("trap nation", gaz).first("playlist").entity_id == "playlist:fire"
    assert understand("trap nation 🔊", gaz).first("playlist").entity_id == "playlist:fire"


# --- the real catalog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Gazetteer:
    if not DEFAULT_CATALOG.exists():
        pytest.skip(f"no catalog at {DEFAULT_CATALOG}")
    return Gazetteer.from_entities(read_spotify(DEFAULT_CATALOG, progress=False).entities)


@pytest.mark.slow
def test_random_letter_strings_rarely_tag(real):
    rng = random.Random(10)
    texts = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12))) for _ in range(1500)]
    tagged = [t for t in texts if understand(t, real).slots]
    # measured: 0.33 % with the edit budget ("sper", "blacl": one edit from a name),
    # 1.0 % without it ("azoea", "ragujw", "fvwinn" found some name two or three edits away)
    assert len(tagged) / len(texts) < 0.006, tagged[:20]


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, kind, value",
    [
        ("coldpaly", "artist", "Coldplay"), ("eminme", "artist", "Eminem"),
        ("drak", "artist", "Drake"), ("adel", "artist", "Adele"),
        ("billie elish", "artist", "Billie Eilish"), ("tayler swift", "artist", "Taylor Swift"),
        ("shap of yu", "track", "Shape of You"), ("metalica", "artist", "Metallica"),
        ("bohemian rhapsdy", "track", "Bohemian Rhapsody - 2011 Mix"),
    ],
)
def test_real_misspellings_still_tag(real, query, kind, value):
    assert (kind, value) in kinds(query, real)


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, expected",
    [
        ("songs for a rainy day", [("entity_type", "track"), ("mood", "chill")]),
        ("music for studying", [("mood", "instrumental")]),
        ("focus", [("mood", "instrumental")]),
        ("dinner", [("mood", "acoustic")]),
        ("road trip", [("mood", "happy")]),
    ],
)
def test_real_everyday_queries(real, query, expected):
    assert kinds(query, real) == expected
