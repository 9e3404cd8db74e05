"""The shared name rules: one behaviour for the gazetteer and the cold-start Q2E queries."""

from __future__ import annotations

import pytest

from es_ltrr.catalog.names import GENRE_SYNONYMS, STOPWORDS, core_title, name_variants, without_apostrophes
from es_ltrr.catalog.queries import predicted_queries
from es_ltrr.common.analysis import normalize_query
from es_ltrr.understanding import Gazetteer, understand

ARTISTS = ["The Beatles", "The Who", "The The", "The Band", "Simon & Garfunkel", "Ke$ha",
           "P!nk", "Destiny's Child", "Guns N' Roses", "Adele"]


@pytest.mark.parametrize(
    "name, variants",
    [
        ("The Beatles", ["beatles"]),
        ("The Weeknd", ["weeknd"]),
        ("The Who", []),  # "who" is too short to mean The Who
        ("The The", []),  # "the" is a stopword
        ("The Band", []),  # so is "band"
        ("Simon & Garfunkel", ["simon and garfunkel"]),
        ("Ke$ha", ["kesha"]),
        ("P!nk", ["pink"]),
        ("Destiny's Child", ["destinys child"]),
        ("Guns N' Roses", []),  # dropping the apostrophe changes no token
        ("The Mamas & The Papas", ["mamas the papas", "the mamas and the papas"]),
        ("", []),
    ],
)
def test_name_variants(name, variants):
    assert name_variants(name) == variants


def test_variants_are_normalized_distinct_and_never_the_name_itself():
    for name in ARTISTS:
        variants = name_variants(name)
        assert len(set(variants)) == len(variants)
        assert all(v == normalize_query(v) for v in variants)
        assert normalize_query(name) not in variants


def test_a_stopword_is_never_a_bare_name():
    for word in STOPWORDS:
        assert name_variants(f"The {word}") == [], word


def test_q2e_predicts_exactly_the_variants_the_gazetteer_tags():
    """Both callers use one rule: every variant the memory predicts tags as the artist."""
    artists = [
        {"id": f"a{i}", "type": "artist", "name": name, "popularity": 70.0}
        for i, name in enumerate(ARTISTS)
    ]
    gaz = Gazetteer.from_entities(artists)
    for artist in artists:
        queries = predicted_queries(artist)
        for variant in name_variants(artist["name"]):
            assert variant in queries, (artist["name"], variant)
            assert understand(variant, gaz).first("artist").value == artist["name"], variant
    band = predicted_queries(artists[ARTISTS.index("The Band")])
    assert "band" not in band and "who" not in predicted_queries(artists[1])


def test_title_rules():
    assert core_title("Lover (Remix) [feat. Shawn Mendes]") == "Lover"
    assert core_title("Shape of You - Acoustic") == "Shape of You"
    assert without_apostrophes("Don’t Stop Me Now") == "Dont Stop Me Now"


def test_q2e_predicts_the_genre_synonyms_the_gazetteer_tags():
    genres = [
        {"id": "g-r-b", "type": "genre", "name": "R&B", "genres": ["r&b"], "popularity": 60.0},
        {"id": "g-edm", "type": "genre", "name": "EDM", "genres": ["edm"], "popularity": 60.0},
        {"id": "s-hip-hop", "type": "subgenre", "name": "Hip Hop", "subgenres": ["hip hop"],
         "popularity": 60.0},
    ]
    gaz = Gazetteer.from_entities(genres)
    for entity, keyword in zip(genres, ["r&b", "edm", "hip hop"]):
        queries = predicted_queries(entity)
        for synonym in GENRE_SYNONYMS[keyword]:
            assert normalize_query(synonym) in queries, synonym
            slot = understand(synonym, gaz).first(entity["type"])
            assert slot is not None and slot.value == keyword, synonym
