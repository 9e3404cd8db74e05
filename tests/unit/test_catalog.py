"""The Spotify catalog loader, the mood rule and the cold-start predicted queries."""

from __future__ import annotations

import csv
import gzip
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from es_ltrr.catalog import (
    DEFAULT_CATALOG,
    MAX_QUERIES,
    MOODS,
    aggregate_moods,
    core_title,
    load_spotify,
    moods_for,
    predicted_queries,
    read_spotify,
)
from es_ltrr.catalog.entities import slug
from es_ltrr.catalog.queries import misspell, misspellings, popularity_prior
from es_ltrr.catalog.spotify import normalize_date, read_header, write_head
from es_ltrr.common.analysis import q2e_key, words
from es_ltrr.common.schema import MUSIC

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spotify_small.csv"
FIELDS = {f.name for f in MUSIC.fields}


@pytest.fixture(scope="module")
def small():
    return read_spotify(FIXTURE, progress=False)


@pytest.fixture(scope="module")
def by_id(small):
    return {e["id"]: e for e in small.entities}


def check_documents(entities):
    ids = [e["id"] for e in entities]
    assert len(ids) == len(set(ids))
    for e in entities:
        assert set(e) <= FIELDS - {"embedding"}, set(e) - FIELDS
        assert e["name"] and e["type"]
        assert 0 < len(e["q2e"]) <= MAX_QUERIES
        assert len(e["q2e_queries"]) == len(e["q2e"])
        for query in e["q2e_queries"]:
            assert query == " ".join(query.split())  # normalized: single spaces
            assert q2e_key(query) in e["q2e"]
        for key, score in e["q2e"].items():
            assert key and "." not in key and " " not in key
            assert 0.0 < score <= 1.0


# --- loader on the fixture ----------------------------------------------------------


def test_counts_and_skipped_rows(small):
    assert small.stats.rows == 11
    assert small.stats.skipped_empty == 2  # the "NA" row and the empty track name
    assert small.stats.entities == {
        "track": 8,
        "artist": 5,
        "album": 5,
        "playlist": 3,
        "genre": 2,
        "subgenre": 3,
    }
    assert "2 skipped" in small.stats.summary()


def test_documents_match_the_schema(small):
    check_documents(small.entities)


def test_ids(by_id):
    assert by_id["t1"]["type"] == "track"
    for eid in ("artist:taylor-swift", "artist:ac-dc", "album:alb1", "playlist:pl1",
                "genre:pop", "subgenre:dance-pop", "subgenre:hard-rock"):
        assert eid in by_id, eid
    assert by_id["genre:pop"]["name"] == "Pop"
    assert by_id["genre:pop"]["genres"] == ["pop"]


def test_track_rows_are_merged(by_id):
    t1 = by_id["t1"]
    assert t1["name"] == "Lover" and t1["artist"] == "Taylor Swift" and t1["album"] == "Lover"
    assert t1["genres"] == ["pop"]
    assert sorted(t1["subgenres"]) == ["dance pop", "electropop"]
    assert t1["popularity"] == 80.0
    assert t1["duration_ms"] == 221307
    assert t1["release_date"] == "2019-08-23" and t1["release_year"] == 2019
    assert t1["description"] == (
        "Lover — song by Taylor Swift from the album Lover (2019). "
        "pop, dance pop, electropop. happy, danceable."
    )


def test_release_dates_are_normalised(by_id):
    assert by_id["t3"]["release_date"] == "2008-11-01"
    assert by_id["t4"]["release_date"] == "1980-01-01" and by_id["t4"]["release_year"] == 1980
    assert normalize_date("2019-06") == "2019-06-01"
    assert normalize_date("nope") is None and normalize_date("2019-13-01") is None


def test_aggregates(by_id):
    album = by_id["album:alb1"]
    assert album["artist"] == "Taylor Swift"  # 2 of its 3 tracks
    assert album["track_count"] == 3 and album["popularity"] == 80.0  # max
    assert "album" not in album
    playlist = by_id["playlist:pl1"]  # t1 80, t2 60, t3 70, t10 50
    assert playlist["track_count"] == 4 and playlist["popularity"] == 65.0  # mean
    assert "artist" not in playlist
    artist = by_id["artist:taylor-swift"]
    assert artist["artist"] == artist["name"] == "Taylor Swift"
    assert artist["release_date"] == "2019-08-23"
    assert artist["danceability"] == pytest.approx((0.8 + 0.77) / 2)
    rock = by_id["genre:rock"]
    assert rock["subgenres"] == ["hard rock"] and rock["track_count"] == 3
    assert by_id["subgenre:electropop"]["genres"] == ["pop"]


def test_artist_spellings_that_fold_alike_are_one_artist(by_id):
    artist = by_id["artist:beyonce"]
    assert artist["name"] == "Beyoncé" and artist["track_count"] == 2


def test_aggregate_moods_take_30_percent_and_at_least_the_top(by_id):
    # Taylor Swift: t1 happy+danceable, t2 danceable+acoustic → danceable top, both others 50 %
    assert by_id["artist:taylor-swift"]["moods"] == ["happy", "danceable", "acoustic"]
    for e in by_id.values():
        if e["type"] != "track" and any(by_id[t]["moods"] for t in by_id if by_id[t]["type"] == "track"):
            assert set(e["moods"]) <= set(MOODS)


def test_loading_is_deterministic(small, tmp_path):
    gz = tmp_path / "small.csv.gz"
    with open(FIXTURE, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert load_spotify(gz, progress=False) == small.entities


def test_missing_columns_are_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,track_name\n1,x\n")
    with pytest.raises(ValueError, match=r"bad.csv: not a Spotify catalog CSV, missing columns"):
        read_spotify(bad, progress=False)


def test_malformed_rows_are_counted_not_fatal(tmp_path):
    rows = list(csv.reader(FIXTURE.open()))
    rows[1][rows[0].index("energy")] = "loud"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    stats = read_spotify(bad, progress=False).stats
    assert stats.skipped_malformed == 1
    assert stats.entities["track"] == 8  # t1's second row still makes the track


def test_slug():
    assert slug("Tyler, The Creator") == "tyler-the-creator"
    assert slug("!!!") == slug("!!!") and slug("!!!").startswith("x-")
    assert slug("!!!") != slug("???")


# --- moods --------------------------------------------------------------------------


def features(**kw):
    base = {"valence": 0.5, "energy": 0.6, "danceability": 0.6, "acousticness": 0.2, "tempo": 110.0,
            "instrumentalness": 0.0}
    return {**base, **kw}


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({}, []),
        ({"valence": 0.65, "energy": 0.5}, ["happy", "chill"]),
        ({"valence": 0.3, "energy": 0.64}, ["sad"]),
        ({"energy": 0.8, "tempo": 118.0}, ["energetic"]),
        ({"energy": 0.9, "tempo": 130.0, "valence": 0.2}, ["energetic", "intense"]),
        ({"danceability": 0.75, "energy": 0.55}, ["danceable"]),
        ({"acousticness": 0.5}, ["acoustic"]),
        ({"energy": 0.4, "tempo": 126.0}, []),
        ({"instrumentalness": 0.5}, ["instrumental"]),
        ({"instrumentalness": 0.49}, []),
    ],
)
def test_mood_thresholds(kw, expected):
    assert moods_for(features(**kw)) == expected


unit = st.floats(0.0, 1.0, allow_nan=False)


@given(unit, unit, unit, unit, st.floats(40.0, 220.0, allow_nan=False), unit)
def test_moods_are_a_deterministic_ordered_subset(valence, energy, dance, acoustic, tempo, instr):
    f = {"valence": valence, "energy": energy, "danceability": dance,
         "acousticness": acoustic, "tempo": tempo, "instrumentalness": instr}
    moods = moods_for(f)
    assert moods == moods_for(dict(f))
    assert moods == [m for m in MOODS if m in moods]
    assert not ({"happy", "sad"} <= set(moods))


@given(st.lists(st.lists(st.sampled_from(MOODS), unique=True), max_size=30))
def test_aggregate_moods_rule(track_moods):
    out = aggregate_moods(track_moods)
    assert out == [m for m in MOODS if m in out]
    counts = {m: sum(m in t for t in track_moods) for m in MOODS}
    if not any(counts.values()):
        assert out == []
        return
    assert max(counts.values()) in {counts[m] for m in out}
    for m in MOODS:
        if counts[m] >= 0.3 * len(track_moods):
            assert m in out


# --- predicted queries --------------------------------------------------------------


def test_core_title():
    assert core_title("Lover (Remix) [feat. Shawn Mendes]") == "Lover"
    assert core_title("Levels - Radio Edit") == "Levels"
    assert core_title("Sweet Child O' Mine") == "Sweet Child O' Mine"
    assert core_title("(Untitled)") == "(Untitled)"


def test_track_queries(by_id):
    q = predicted_queries(by_id["t1"])
    prior = popularity_prior(80)
    assert q["lover"] == pytest.approx(1.0 * prior)
    assert q["taylor swift lover"] == pytest.approx(0.95 * prior)
    assert q["lover taylor swift"] == pytest.approx(0.85 * prior)
    assert q["taylor swift"] == pytest.approx(0.3 * prior)  # weakly, for the artist's track
    assert q["happy songs"] < q["taylor swift"]  # broad phrases score lowest
    typos = [k for k in q if k.endswith(" lover") and k != "taylor swift lover"]
    assert typos, q  # "<misspelt artist> lover"
    exact = max(q.values())
    assert exact == q["lover"]


def test_feature_credits_are_stripped_for_the_core_title(by_id):
    q = predicted_queries(by_id["t10"])
    assert "feature track" in q
    assert "feature track feat taylor swift remix" in q
    assert q["feature track"] > q["feature track feat taylor swift remix"]


def test_artist_genre_playlist_queries(by_id):
    artist = predicted_queries(by_id["artist:taylor-swift"])
    assert {"taylor swift", "taylor swift songs"} <= set(artist)
    assert sum(1 for k in artist if Levenshtein.distance(k, "taylor swift") in (1, 2)) >= 2
    genre = predicted_queries(by_id["subgenre:hard-rock"])
    assert {"hard rock", "hard rock songs"} <= set(genre)
    assert any(k.endswith(" hard rock") and k.split()[0] in MOODS for k in genre)
    playlist = predicted_queries(by_id["playlist:pl3"])
    assert {"rock classics", "rock classics playlist", "rock playlist"} <= set(playlist)


def test_popular_entity_wins_a_shared_query():
    hit = {"id": "a", "type": "track", "name": "Stay", "artist": "X", "popularity": 90}
    obscure = {"id": "b", "type": "track", "name": "Stay", "artist": "Y", "popularity": 5}
    assert predicted_queries(hit)["stay"] > predicted_queries(obscure)["stay"]


def test_queries_are_deterministic_and_bounded(small):
    assert small.entities
    for e in small.entities:
        assert predicted_queries(e) == predicted_queries(dict(e))
        assert len(predicted_queries(e)) <= MAX_QUERIES


def test_misspellings_are_realistic():
    rng = random.Random(7)
    for word in ("taylor", "rihanna", "metallica", "beyonce", "sheeran", "love"):
        for _ in range(20):
            typo = misspell(word, rng)
            assert typo != word and typo[0] == word[0]
            assert Levenshtein.distance(typo, word) <= 2
    assert misspell("abc", rng) == "abc"  # never for words shorter than 4 letters
    assert misspellings("Ed Sia Jay", rng, 3) == []


@settings(max_examples=200)
@given(
    st.text(min_size=1, max_size=60),
    st.sampled_from(["track", "artist", "album", "playlist", "genre", "subgenre", "podcast"]),
    st.floats(0, 100, allow_nan=False) | st.none(),
)
def test_predicted_queries_never_break(name, kind, popularity):
    entity = {"id": name, "type": kind, "name": name, "artist": name[::-1],
              "album": name.upper(), "moods": ["happy"], "genres": ["pop"],
              "popularity": popularity}
    q = predicted_queries(entity)
    assert len(q) <= MAX_QUERIES
    for query, score in q.items():
        # (not `query == normalize_query(query)`: analysis.fold is not idempotent for a
        # few compatibility characters, e.g. "𝞐" → "Α" → "α")
        assert query and query == " ".join(query.split())
        assert 0.0 < score <= 1.0
        assert "." not in q2e_key(query)
    if not words(name):
        assert "" not in q


# --- the real catalog ---------------------------------------------------------------


@pytest.mark.slow
def test_real_catalog():
    if not DEFAULT_CATALOG.exists():
        pytest.skip(f"no catalog at {DEFAULT_CATALOG}")
    catalog = read_spotify(DEFAULT_CATALOG, progress=False)
    counts = catalog.stats.entities
    assert abs(counts["track"] - 28_356) <= 10
    assert 10_600 <= counts["artist"] <= 10_700
    assert 22_400 <= counts["album"] <= 22_600
    assert counts["playlist"] == 471
    assert counts["genre"] == 6 and counts["subgenre"] == 24
    assert catalog.stats.skipped_empty == 5
    check_documents(catalog.entities)
    tracks = [e for e in catalog.entities if e["type"] == "track"]
    for e in tracks[:2000]:
        assert e["moods"] == moods_for(e)  # moods follow the rule from the stored features
    by_id = {e["id"]: e for e in catalog.entities}
    assert by_id["artist:taylor-swift"]["popularity"] == 86.0
    assert by_id["artist:beyonce"]["name"] == "Beyoncé"
    assert {g["genres"][0] for g in catalog.entities if g["type"] == "genre"} == {
        "edm", "latin", "pop", "r&b", "rap", "rock"}


def test_write_head_copies_the_header_and_the_first_rows_byte_for_byte(tmp_path):
    gz, plain = write_head(tmp_path / "head.csv.gz", 7, FIXTURE), write_head(tmp_path / "head.csv", 7, FIXTURE)
    expected = FIXTURE.read_bytes().splitlines(keepends=True)[:8]
    assert gzip.open(gz).read() == plain.read_bytes() == b"".join(expected)
    assert read_header(gz) == read_header(FIXTURE)


def test_write_head_takes_str_paths(tmp_path):
    """`write_head('small.csv.gz', 2000)` crashed: 'str' object has no attribute 'name' (issue 23, item 11)."""
    written = write_head(str(tmp_path / "head.csv.gz"), 3, str(FIXTURE))
    assert gzip.open(written).read() == b"".join(FIXTURE.read_bytes().splitlines(keepends=True)[:4])


def _rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_slice_is_stratified_by_genre_decade_and_popularity(tmp_path):
    """`es-ltrr catalog slice`: every genre in its share of the catalog, every decade, the long
    tail and the hits — where the first 2,000 rows are pop alone (issue 23, item 11)."""
    from collections import Counter

    from es_ltrr.catalog.slicing import decade, write_slice

    full = _rows(DEFAULT_CATALOG)
    report = write_slice(str(tmp_path / "slice.csv.gz"), 2000, seed=3)
    rows = _rows(tmp_path / "slice.csv.gz")
    assert len(rows) == report.rows == 2000 and read_header(tmp_path / "slice.csv.gz") == read_header(DEFAULT_CATALOG)
    assert {r["playlist_genre"] for r in full[:2000]} == {"pop"}  # why the head is no small catalog
    genres, whole = Counter(r["playlist_genre"] for r in rows), Counter(r["playlist_genre"] for r in full)
    assert set(genres) == set(whole)
    for genre, n in whole.items():
        assert abs(genres[genre] / 2000 - n / len(full)) < 0.02, (genre, genres[genre])
    assert {decade(r["track_album_release_date"]) for r in rows} == {decade(r["track_album_release_date"]) for r in full}
    popularity = sorted(float(r["track_popularity"]) for r in rows)
    assert popularity[200] < 10 and popularity[-200] > 65  # the long tail and the hits
    assert set(map(tuple, (r.values() for r in rows))) <= set(map(tuple, (r.values() for r in full)))  # rows as they are


def test_a_slice_is_the_same_for_the_same_seed(tmp_path):
    from es_ltrr.catalog.slicing import write_slice

    a, b, c = (write_slice(tmp_path / name, 300, seed=seed).path for name, seed in
               (("a.csv.gz", 5), ("b.csv.gz", 5), ("c.csv.gz", 6)))
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
