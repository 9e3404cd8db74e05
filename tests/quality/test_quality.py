"""Quality on the full real catalog: each intent finds what it should.

These are the product's acceptance tests: known items with and without misspellings,
artists, genres/subgenres, moods, entity-type browsing and eras. Ranks are asserted
loosely (top 3 / top 10) so that ranking improvements do not break them, but a regression
that loses the right item does.
"""

import pytest

from es_ltrr.serving.contract import parse_search_request, search_response

pytestmark = pytest.mark.slow


def _search(searcher, query, k=10):
    """The response a client sees (these are acceptance tests of the page)."""
    return search_response(searcher.search(parse_search_request({"query": query, "k": k, "debug": True})))


def _rank_of(hits, pred):
    for i, hit in enumerate(hits, start=1):
        if pred(hit):
            return i
    return None


def _track(name, artist):
    return lambda h: h["type"] == "track" and h["name"] == name and h.get("artist") == artist


@pytest.mark.parametrize(
    "query, name, artist, within",
    [
        ("shape of you", "Shape of You", "Ed Sheeran", 3),
        ("shap of yu", "Shape of You", "Ed Sheeran", 5),
        ("despacito", "Despacito", "Luis Fonsi", 5),
        ("bohemian rhapsdy", "Bohemian Rhapsody - 2011 Mix", "Queen", 5),
        ("smells like teen spirit", "Smells Like Teen Spirit", "Nirvana", 3),
    ],
)
def test_known_item(music_searcher, query, name, artist, within):
    hits = _search(music_searcher, query)["hits"]
    rank = _rank_of(hits, _track(name, artist))
    assert rank is not None and rank <= within, [(h["name"], h.get("artist")) for h in hits]


@pytest.mark.parametrize("query", ["tayler love", "lover taylor swift", "taylor swift lover"])
def test_seed_example_lover(music_searcher, query):
    """The catalog holds Taylor Swift's album "Lover" and the track "Lover (Remix)"."""
    hits = _search(music_searcher, query)["hits"]
    rank = _rank_of(hits, lambda h: h.get("artist") == "Taylor Swift" and h["name"].startswith("Lover"))
    assert rank is not None and rank <= 3, [(h["type"], h["name"], h.get("artist")) for h in hits]


@pytest.mark.parametrize(
    "query, artist",
    [("taylor swift", "Taylor Swift"), ("metalica", "Metallica"), ("rihana", "Rihanna"), ("billie eilish", "Billie Eilish"), ("coldpaly", "Coldplay")],
)
def test_artist(music_searcher, query, artist):
    hits = _search(music_searcher, query)["hits"]
    rank = _rank_of(hits, lambda h: h["type"] == "artist" and h["name"] == artist)
    assert rank is not None and rank <= 3, [(h["type"], h["name"]) for h in hits]
    by_artist = sum(1 for h in hits if h.get("artist") == artist)
    assert by_artist >= 5


@pytest.mark.parametrize("query, subgenre", [("dance pop", "dance pop"), ("hard rock", "hard rock"), ("neo soul", "neo soul")])
def test_subgenre(music_searcher, query, subgenre):
    hits = _search(music_searcher, query)["hits"]
    assert _rank_of(hits, lambda h: h["type"] == "subgenre" and h["name"].lower() == subgenre) is not None
    tagged = sum(1 for h in hits if subgenre in (h.get("subgenres") or []))
    assert tagged >= 7, [(h["type"], h["name"], h.get("subgenres")) for h in hits]


@pytest.mark.parametrize("query, genre", [("rock", "rock"), ("latin music", "latin"), ("rap", "rap")])
def test_genre(music_searcher, query, genre):
    hits = _search(music_searcher, query)["hits"]
    tagged = sum(1 for h in hits if genre in (h.get("genres") or []))
    assert tagged >= 7, [(h["type"], h["name"], h.get("genres")) for h in hits]


@pytest.mark.parametrize("query, mood", [("happy songs", "happy"), ("sad songs", "sad"), ("chill music", "chill")])
def test_mood(music_searcher, query, mood):
    result = _search(music_searcher, query)
    hits = result["hits"]
    moody = sum(1 for h in hits if mood in (h.get("moods") or []))
    assert moody >= 7, [(h["type"], h["name"], h.get("moods")) for h in hits]
    if "songs" in query:
        assert sum(1 for h in hits if h["type"] == "track") >= 8


def test_entity_type_browse(music_searcher):
    hits = _search(music_searcher, "eminem albums")["hits"]
    albums = [h for h in hits if h["type"] == "album" and h.get("artist") == "Eminem"]
    assert len(albums) >= 3, [(h["type"], h["name"], h.get("artist")) for h in hits]
    assert hits[0]["type"] == "album"


def test_era(music_searcher):
    hits = _search(music_searcher, "80s rock")["hits"]
    in_era = [h for h in hits if h.get("release_year") and 1980 <= h["release_year"] < 1990 and "rock" in (h.get("genres") or [])]
    assert len(in_era) >= 7, [(h["name"], h.get("release_year"), h.get("genres")) for h in hits]


def test_every_arm_contributes_somewhere(music_searcher):
    found = set()
    for q in ["tayler love", "happy songs", "eminem albums", "songs about heartbreak", "dance pop"]:
        for hit in _search(music_searcher, q, k=50)["hits"]:
            found.update(a["arm"] for a in hit["arms"])
    assert found >= {"lexical", "popular", "structured", "semantic", "q2e"}
