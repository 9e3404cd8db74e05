"""Query understanding: gazetteer tagging, fuzzy misspellings, slot selection, intent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from es_ltrr.catalog import DEFAULT_CATALOG, read_spotify
from es_ltrr.understanding import INTENTS, KINDS, MOOD_SYNONYMS, Gazetteer, Understanding, era_of, skeleton, understand

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.from_entities(read_spotify(FIXTURE, progress=False).entities)


def kinds(u: Understanding) -> list[tuple[str, object]]:
    return [(s.kind, s.value) for s in u.slots]


def check_invariants(u: Understanding) -> None:
    n = len(u.tokens)
    assert u.normalized == " ".join(u.tokens)
    assert u.intent in INTENTS
    assert 0.0 <= u.intent_confidence <= 1.0
    end = 0
    covered = 0
    for s in u.slots:  # sorted, non-overlapping, inside the query
        assert s.kind in KINDS
        assert end <= s.span[0] < s.span[1] <= n
        assert 0.0 < s.confidence <= 1.0
        end = s.span[1]
        covered += s.span[1] - s.span[0]
    assert len(u.residual) == n - covered
    if not u.slots:
        assert u.intent == "unknown" and u.intent_confidence == 0.0
    json.dumps(u.to_dict())


# --- vocabulary (no catalog needed) ---------------------------------------------------


def test_vocabulary_without_a_catalog():
    empty = Gazetteer.from_entities([])
    u = understand("Happy Songs", empty)
    assert kinds(u) == [("mood", "happy"), ("entity_type", "track")]
    assert u.intent == "mood" and u.intent_confidence == 1.0
    assert kinds(understand("relaxing playlist", empty)) == [("mood", "chill"), ("entity_type", "playlist")]
    assert understand("the bands", empty).first("entity_type").value == "artist"
    assert understand("ep", empty).intent == "entity_browse"
    assert understand("xyzzy", empty).intent == "unknown"


@pytest.mark.parametrize(
    "tokens, era",
    [
        (("80s",), (1980, 1990)),
        (("1980s",), (1980, 1990)),
        (("eighties",), (1980, 1990)),
        (("90", "s"), (1990, 2000)),  # "'90's"
        (("2000s",), (2000, 2010)),
        (("00s",), (2000, 2010)),
        (("2010s",), (2010, 2020)),
        (("1999",), (1999, 2000)),
    ],
)
def test_eras(tokens, era):
    assert era_of(tokens) == {"gte": era[0], "lt": era[1]}


def test_era_slots_from_text():
    empty = Gazetteer.from_entities([])
    for text in ("'90s hits", "90's hits", "nineties hits", "1990s hits"):
        assert understand(text, empty).first("era").value == {"gte": 1990, "lt": 2000}, text
    assert era_of(("12345",)) is None and era_of(("love",)) is None


def test_skeleton_merges_common_confusions():
    assert skeleton("tayler") == skeleton("taylor")
    assert skeleton("beyonse") == skeleton("beyonce")
    assert skeleton("rihana") == skeleton("rihanna")
    assert skeleton("tyler") != skeleton("taylor")


# --- tagging on the small catalog ---------------------------------------------------


def test_artist_full_name(gaz):
    u = understand("Taylor Swift", gaz)
    assert kinds(u) == [("artist", "Taylor Swift")]
    slot = u.first("artist")
    assert slot.span == (0, 2) and slot.confidence == 1.0 and slot.entity_id == "artist:taylor-swift"
    assert u.intent == "artist" and u.intent_confidence == 1.0 and u.residual == ()


def test_misspelt_artist(gaz):
    u = understand("metalica", gaz)
    assert kinds(u) == [("artist", "Metallica")]
    assert 0.8 <= u.first("artist").confidence < 1.0
    assert understand("beyonse", gaz).first("artist").value == "Beyoncé"


def test_alias_with_scoped_title(gaz):
    u = understand("tayler love", gaz)
    artist = u.first("artist")
    assert artist.value == "Taylor Swift" and artist.span == (0, 1)
    assert artist.confidence < 0.8  # a fuzzy single-token alias is weak evidence
    track = u.first("track")
    assert track.value == "Lover" and track.entity_id == "t1" and track.span == (1, 2)
    assert u.intent == "known_item"


def test_known_item(gaz):
    u = understand("ac dc back in black", gaz)
    assert kinds(u)[0] == ("artist", "AC/DC")
    assert u.first("track").value == "Back In Black" and u.first("track").entity_id == "t4"
    assert u.intent == "known_item"
    u = understand("back in black acdc album", gaz)
    assert u.first("album").entity_id == "album:alb3"  # the entity-type word picks the album
    assert u.first("entity_type").value == "album"


def test_longest_match_prefers_the_subgenre(gaz):
    u = understand("dance pop", gaz)
    assert kinds(u) == [("subgenre", "dance pop")]
    assert u.intent == "genre"


def test_residual_and_accessors(gaz):
    u = understand("taylor swift xyzzy songs", gaz)
    assert u.residual == ("xyzzy",)
    assert u.first("entity_type").value == "track"
    assert u.first("mood") is None and not u.has("mood")
    assert len(u.all("artist")) == 1
    assert u.intent == "artist"
    assert u.intent_confidence == 0.75  # artist confidence 1.0 × 3 of 4 tokens covered


def test_mood_synonyms_cover_the_vocabulary():
    empty = Gazetteer.from_entities([])
    for mood, words in MOOD_SYNONYMS.items():
        for word in words:
            assert understand(word, empty).first("mood").value == mood, word


# --- properties ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_breaks(gaz, text):
    check_invariants(understand(text, gaz))


VOCAB = ["taylor", "swift", "tayler", "love", "lover", "back", "in", "black", "acdc",
         "ac", "dc", "metalica", "beyonse", "dance", "pop", "hard", "rock", "happy", "songs",
         "album", "80s", "90", "s", "the", "of", "chill", "playlist", "pop hits", "xyzzy"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCAB), max_size=12))
def test_catalog_words_never_break(gaz, words):
    u = understand(" ".join(words), gaz)
    check_invariants(u)
    assert understand(" ".join(words), gaz) == u  # deterministic


def test_huge_query_is_bounded(gaz):
    u = understand("taylor swift " * 500, gaz)
    check_invariants(u)
    assert len(u.tokens) == 1000 and all(s.span[1] <= 32 for s in u.slots)


# --- the real catalog ---------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> tuple[list[dict], Gazetteer]:
    """The real catalog's gazetteer (build time and tagging latency are in `es-ltrr bench`)."""
    if not DEFAULT_CATALOG.exists():
        pytest.skip(f"no catalog at {DEFAULT_CATALOG}")
    entities = read_spotify(DEFAULT_CATALOG, progress=False).entities
    return entities, Gazetteer.from_entities(entities)


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, intent, expected",
    [
        ("tayler love", "known_item", [("artist", "Taylor Swift")]),
        ("taylor swift", "artist", [("artist", "Taylor Swift")]),
        ("ed sheeran shape of you", "known_item", [("artist", "Ed Sheeran"), ("track", "Shape of You")]),
        ("dance pop", "genre", [("subgenre", "dance pop")]),
        ("happy songs", "mood", [("mood", "happy"), ("entity_type", "track")]),
        ("80s rock", "genre", [("era", {"gte": 1980, "lt": 1990}), ("genre", "rock")]),
        ("eminem albums", "artist", [("artist", "Eminem"), ("entity_type", "album")]),
        ("beyonse", "artist", [("artist", "Beyoncé")]),
        ("rihana", "artist", [("artist", "Rihanna")]),
        ("metalica", "artist", [("artist", "Metallica")]),
        ("songs by tayler swift", "artist", [("entity_type", "track"), ("artist", "Taylor Swift")]),
        ("90's r&b", "genre", [("era", {"gte": 1990, "lt": 2000}), ("genre", "r&b")]),
        ("billie eilish bad guy", "known_item", [("artist", "Billie Eilish"), ("track", "bad guy")]),
        ("relaxing music", "mood", [("mood", "chill")]),
        ("love songs", "entity_browse", None),
    ],
)
def test_real_queries(real, query, intent, expected):
    u = understand(query, real[1])
    check_invariants(u)
    assert u.intent == intent, u.to_dict()
    if expected is not None:
        got = kinds(u)
        assert all(item in got for item in expected), u.to_dict()


@pytest.mark.slow
def test_real_misspelling_confidence_is_lower(real):
    exact = understand("taylor swift", real[1]).first("artist")
    typo = understand("tayler", real[1]).first("artist")
    assert typo.value == exact.value and typo.confidence < exact.confidence


@pytest.mark.slow
def test_real_catalog_queries_keep_the_invariants(real):
    entities, gazetteer = real
    for q in [q for e in entities[::60] for q in e["q2e_queries"][:3]]:
        check_invariants(understand(q, gazetteer))


def test_a_title_slot_knows_its_artist(gaz):
    u = understand("hells bells", gaz)
    title = u.first("track")
    assert title is not None and title.artist == "AC/DC"  # as the catalog writes it
    assert understand("taylor swift", gaz).first("artist").artist is None  # only titles carry one
