"""Cold-start Q2E: the queries each entity is predicted to be found by, with scores.

Before any user has searched, the Q2E memory (the `q2e` rank_features field and the
`q2e_queries` text field) is seeded from the catalog itself. For every entity,
:func:`predicted_queries` generates at most :data:`MAX_QUERIES` normalized queries, each
with a predicted score in (0, 1]:

* **names** — a track's title (also its *core* title without "(feat. …)" / "- Remix"
  decorations, and the title with apostrophes dropped, "dont" for "don't"); artist, album,
  playlist, genre and subgenre names, and the artist name variants ("beatles") — these
  rules live in :mod:`es_ltrr.catalog.names`, shared with the gazetteer;
* **combinations** — "artist title", "title artist", "album artist", "artist songs",
  "genre songs", "mood genre", "playlist name playlist";
* **weak links** — a track is weakly found by its artist's and album's names and by a mood
  phrase ("happy songs", "sad pop");
* **misspellings** — realistic typos of title and artist words: a vowel confusion
  ("taylor" → "tayler"), a dropped letter, a doubled letter, a QWERTY-neighbour key, two
  swapped letters, a phonetic spelling ("beyonce" → "beyonse"). Only words of ≥ 4 letters
  are misspelt, and the choice is seeded by the entity id, so it is deterministic.

Each query has a base score by how it relates to the entity (1.0 for the exact name, less
for combinations, misspellings and broad phrases, see :data:`BASE`), multiplied by a
popularity prior ``0.5 + 0.5 · popularity / 100`` so that a popular entity wins a query it
shares with an obscure one. Scores are rounded to 4 digits and never below 1e-4.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable

from es_ltrr.catalog.names import GENRE_SYNONYMS, core_title, name_variants, without_apostrophes, without_symbols
from es_ltrr.common.analysis import normalize_query, q2e_key, words

#: Upper bound on predicted queries per entity (keeps the rank_features field small).
MAX_QUERIES = 16

#: Base score of each kind of predicted query, before the popularity prior.
BASE: dict[str, float] = {
    "name": 1.0,
    "name_variant": 0.9,
    "artist_title": 0.95,
    "title_artist": 0.85,
    "name_suffix": 0.8,  # "taylor swift songs", "pop music", "<playlist> playlist"
    "misspelt_name": 0.6,
    "misspelt_artist_title": 0.5,
    "mood_genre": 0.6,  # for genres/subgenres: "sad pop"
    "weak_artist": 0.3,  # a track/album found by its artist's name
    "weak_album": 0.25,  # a track found by its album's name
    "weak_genre": 0.3,  # a playlist found by "<genre> playlist"
    "weak_mood": 0.15,  # a track found by "happy songs" / "happy pop"
}

MIN_SCORE = 1e-4
#: Words shorter than this are never misspelt.
MIN_MISSPELL_LEN = 4

def popularity_prior(popularity: float | None) -> float:
    """0.5 + 0.5 · popularity/100, popularity clipped to 0..100 (missing → 0)."""
    p = min(max(float(popularity or 0.0), 0.0), 100.0)
    return 0.5 + 0.5 * p / 100.0


# --- misspellings -------------------------------------------------------------------

_VOWELS = "aeiouy"
_VOWEL_CONFUSIONS: dict[str, str] = {
    "a": "ei",
    "e": "aiy",
    "i": "ey",
    "o": "eua",
    "u": "oa",
    "y": "ie",
}
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_QWERTY_ROWS):
                near += [
                    _QWERTY_ROWS[_other][j]
                    for j in (_c - 1, _c, _c + 1)
                    if 0 <= j < len(_QWERTY_ROWS[_other])
                ]
        _NEIGHBOURS[_ch] = "".join(near)
_PHONETIC: tuple[tuple[str, str], ...] = (
    ("ce", "se"),
    ("ci", "si"),
    ("ck", "k"),
    ("ph", "f"),
    ("qu", "kw"),
    ("c", "k"),
    ("z", "s"),
    ("s", "z"),
    ("x", "ks"),
)


def _vowel(word: str, rng: random.Random) -> str:
    spots = [i for i in range(1, len(word)) if word[i] in _VOWELS]
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + rng.choice(_VOWEL_CONFUSIONS[word[i]]) + word[i + 1 :]


def _drop(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + word[i + 1 :]


def _double(word: str, rng: random.Random) -> str:
    spots = [i for i in range(1, len(word)) if word[i] != word[i - 1]]
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + word[i] + word[i:]


def _adjacent_key(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word))
    near = _NEIGHBOURS.get(word[i])
    if not near:
        return word
    return word[:i] + rng.choice(near) + word[i + 1 :]


def _swap(word: str, rng: random.Random) -> str:
    spots = [i for i in range(1, len(word) - 1) if word[i] != word[i + 1]]
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _phonetic(word: str, rng: random.Random) -> str:
    options = [(a, b) for a, b in _PHONETIC if a in word[1:]]
    if not options:
        return word
    a, b = rng.choice(options)
    i = word.index(a, 1)
    return word[:i] + b + word[i + len(a) :]


_OPERATIONS: tuple[Callable[[str, random.Random], str], ...] = (
    _vowel,
    _drop,
    _double,
    _adjacent_key,
    _swap,
    _phonetic,
)


def misspell(word: str, rng: random.Random) -> str:
    """One realistic typo of an ASCII word of ≥ 4 letters (else the word unchanged).

    The first letter is kept (people rarely mistype it; the gazetteer's fuzzy lookup
    relies on that too).

    >>> misspell("taylor", random.Random(3)) != "taylor"
    True
    >>> misspell("abc", random.Random(0))
    'abc'
    """
    if len(word) < MIN_MISSPELL_LEN or not (word.isascii() and word.isalpha()):
        return word
    ops = list(_OPERATIONS)
    rng.shuffle(ops)
    for op in ops:
        typo = op(word, rng)
        if typo != word:
            return typo
    return word


def misspellings(text: str, rng: random.Random, count: int) -> list[str]:
    """Up to `count` distinct variants of `text`, each with one word misspelt."""
    tokens = words(text)
    eligible = [
        i
        for i, t in enumerate(tokens)
        if len(t) >= MIN_MISSPELL_LEN and t.isascii() and t.isalpha()
    ]
    out: list[str] = []
    for _ in range(count * 3):
        if len(out) >= count or not eligible:
            break
        i = rng.choice(eligible)
        typo = misspell(tokens[i], rng)
        if typo == tokens[i]:
            continue
        variant = " ".join(tokens[:i] + [typo] + tokens[i + 1 :])
        if variant not in out:
            out.append(variant)
    return out


# --- predicted queries --------------------------------------------------------------


class _Queries:
    """Ordered, bounded collection of (query, base score); the first MAX_QUERIES win."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self._by_key: dict[str, str] = {}  # Q2E key → the query stored for it

    def add(self, text: str | None, kind: str) -> None:
        """Keep one query per Q2E key ("shi:reborn" and "shi reborn" share a key)."""
        if not text:
            return
        query = normalize_query(text)
        key = q2e_key(query)
        if not key:
            return
        base = BASE[kind]
        stored = self._by_key.get(key)
        if stored is not None:
            self.scores[stored] = max(self.scores[stored], base)
        elif len(self.scores) < MAX_QUERIES:
            self._by_key[key] = query
            self.scores[query] = base

    def add_all(self, texts: Iterable[str], kind: str) -> None:
        for text in texts:
            self.add(text, kind)


def _first(values: Any) -> str | None:
    if isinstance(values, (list, tuple)) and values:
        return str(values[0])
    return None


def _track(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name, artist, album = e["name"], e.get("artist"), e.get("album")
    core = core_title(name)
    q.add(core, "name")
    if artist:
        q.add(f"{artist} {core}", "artist_title")
        q.add(f"{core} {artist}", "title_artist")
    q.add(name, "name_variant")
    q.add(without_apostrophes(core), "name_variant")
    q.add(without_symbols(core), "name_variant")
    q.add_all(misspellings(core, rng, 1), "misspelt_name")
    if artist:
        q.add_all(
            (f"{typo} {core}" for typo in misspellings(artist, rng, 1)),
            "misspelt_artist_title",
        )
        q.add(artist, "weak_artist")
    if album and normalize_query(core_title(album)) != normalize_query(core):
        q.add(core_title(album), "weak_album")
    mood, genre = _first(e.get("moods")), _first(e.get("genres"))
    if mood:
        q.add(f"{mood} songs", "weak_mood")
        if genre:
            q.add(f"{mood} {genre}", "weak_mood")


def _artist(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name = e["name"]
    q.add(name, "name")
    q.add_all(name_variants(name), "name_variant")
    q.add(f"{name} songs", "name_suffix")
    q.add(f"{name} music", "name_suffix")
    q.add_all(misspellings(name, rng, 3), "misspelt_name")


def _album(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name, artist = e["name"], e.get("artist")
    core = core_title(name)
    q.add(core, "name")
    q.add(name, "name_variant")
    q.add(without_symbols(core), "name_variant")
    if artist:
        q.add(f"{artist} {core}", "artist_title")
        q.add(f"{core} {artist}", "title_artist")
    q.add(f"{core} album", "name_suffix")
    q.add_all(misspellings(core, rng, 1), "misspelt_name")
    if artist:
        q.add(artist, "weak_artist")


def _playlist(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name = e["name"]
    q.add(name, "name")
    q.add(without_symbols(name), "name_variant")
    q.add(f"{name} playlist", "name_suffix")
    q.add_all(misspellings(name, rng, 1), "misspelt_name")
    genre, mood = _first(e.get("genres")), _first(e.get("moods"))
    if genre:
        q.add(f"{genre} playlist", "weak_genre")
        if mood:
            q.add(f"{mood} {genre} playlist", "weak_genre")


def _genre(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name = e["name"]
    keyword = _first(e.get("subgenres" if e["type"] == "subgenre" else "genres")) or name
    for label in dict.fromkeys([name, keyword]):
        q.add(label, "name")
    q.add_all(GENRE_SYNONYMS.get(keyword, ()), "name_variant")  # "rnb" for "r&b"
    q.add(f"{keyword} songs", "name_suffix")
    q.add(f"{keyword} music", "name_suffix")
    for mood in e.get("moods") or ():
        q.add(f"{mood} {keyword}", "mood_genre")
        q.add(f"{mood} {keyword} songs", "mood_genre")
    q.add_all(misspellings(keyword, rng, 1), "misspelt_name")


def _other(e: dict[str, Any], q: _Queries, rng: random.Random) -> None:
    name, artist = e["name"], e.get("artist")
    q.add(name, "name")
    if artist and normalize_query(artist) != normalize_query(name):
        q.add(f"{artist} {name}", "artist_title")
    q.add_all(misspellings(name, rng, 2), "misspelt_name")


_BY_TYPE: dict[str, Callable[[dict[str, Any], _Queries, random.Random], None]] = {
    "track": _track,
    "artist": _artist,
    "album": _album,
    "playlist": _playlist,
    "genre": _genre,
    "subgenre": _genre,
}


def predicted_queries(entity: dict[str, Any]) -> dict[str, float]:
    """Normalized query → predicted score in (0, 1], at most :data:`MAX_QUERIES` of them.

    Deterministic: misspellings are drawn from a generator seeded by the entity id.

    >>> qs = predicted_queries({"id": "t1", "type": "track", "name": "Lover",
    ...                         "artist": "Taylor Swift", "popularity": 80})
    >>> qs["lover"], qs["taylor swift lover"], qs["taylor swift"]
    (0.9, 0.855, 0.27)
    """
    rng = random.Random(f"q2e:{entity['id']}")
    collected = _Queries()
    _BY_TYPE.get(entity.get("type", ""), _other)(entity, collected, rng)
    prior = popularity_prior(entity.get("popularity"))
    out: dict[str, float] = {}
    for query, base in collected.scores.items():
        score = max(round(base * prior, 4), MIN_SCORE)
        if not 0.0 < score <= 1.0:
            raise ValueError(f"predicted score {score} for {query!r} is outside (0, 1]")
        out[query] = score
    return out


def attach_predicted_queries(entity: dict[str, Any]) -> dict[str, Any]:
    """Set `q2e` ({q2e_key: score}) and `q2e_queries` on `entity` (in place) and return it."""
    queries = predicted_queries(entity)
    q2e: dict[str, float] = {}
    for query, score in queries.items():
        key = q2e_key(query)
        if "." in key or not key:
            raise ValueError(f"invalid q2e key {key!r} for {entity['id']!r}")
        q2e[key] = max(score, q2e.get(key, 0.0))
    entity["q2e"] = q2e
    entity["q2e_queries"] = list(queries)
    return entity
