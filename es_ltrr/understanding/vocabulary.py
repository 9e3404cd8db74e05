"""The built-in vocabulary of query understanding: slot kinds, moods and their synonyms,
entity-type words, genre synonyms, decades and eras, stopwords.

These are facts about how people phrase music queries, independent of any catalog; the
gazetteer adds them beside the catalog's names. The stopwords and genre synonyms live with the
name rules in :mod:`es_ltrr.catalog.names` (the Q2E generator needs them too) and are
re-exported here.
"""

from __future__ import annotations

import re

from es_ltrr.catalog.names import GENRE_SYNONYMS as GENRE_SYNONYMS
from es_ltrr.catalog.names import STOPWORDS as STOPWORDS

#: Slot kinds, in tie-break order (earlier wins when two kinds tie for the same span).
KINDS: tuple[str, ...] = (
    "entity_type",
    "era",
    "mood",
    "subgenre",
    "genre",
    "artist",
    "track",
    "album",
    "playlist",
)
INTENTS: tuple[str, ...] = ("known_item", "artist", "genre", "mood", "entity_browse", "unknown")

KIND_WEIGHT: dict[str, float] = {
    "entity_type": 1.0,
    "era": 1.0,
    "mood": 1.0,
    "subgenre": 1.0,
    "genre": 1.0,
    "artist": 1.0,
    "track": 0.8,
    "album": 0.75,
    "playlist": 0.7,
}
KIND_RANK = {k: i for i, k in enumerate(KINDS)}
VOCAB_KINDS = frozenset({"entity_type", "era", "mood", "subgenre", "genre"})
TITLE_KINDS = frozenset({"track", "album", "playlist"})

#: Mood vocabulary (the catalog's moods) and the words people use for them, activities
#: included: an activity asks for the audio features that suit it (studying and focus →
#: instrumental, a workout → energetic, a party → danceable, a rainy day or sleep → chill,
#: a road trip → happy, dinner or coffee → acoustic).
MOOD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "happy": (
        "happy", "upbeat", "cheerful", "joyful", "feel good", "feelgood", "positive",
        "sunny", "uplifting", "good vibes", "road trip", "roadtrip", "driving",
    ),
    "sad": (
        "sad", "melancholy", "melancholic", "depressing", "heartbreak", "heartbroken",
        "gloomy", "sorrowful", "crying",
    ),
    "energetic": (
        "energetic", "energy", "workout", "workouts", "gym", "running", "run", "exercise",
        "training", "cardio", "fitness", "pump up", "hype", "power",
    ),
    "chill": (
        "chill", "relaxing", "relax", "calm", "mellow", "chillout", "chill out", "laid back",
        "soothing", "sleep", "sleeping", "bedtime", "rainy day", "rainy", "rain", "lazy",
    ),
    "danceable": ("danceable", "dance", "dancing", "party", "partying", "club", "clubbing",
                  "groovy"),
    "acoustic": ("acoustic", "unplugged", "dinner", "coffee", "coffeehouse", "cafe",
                 "campfire"),
    "intense": ("intense", "angry", "aggressive", "rage", "heavy", "dark"),
    "instrumental": (
        "instrumental", "instrumentals", "no vocals", "without lyrics", "study", "studying",
        "focus", "focusing", "concentration", "concentrate", "reading", "homework",
        "meditation",
    ),
}

ENTITY_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "track": ("song", "songs", "track", "tracks", "tune", "tunes", "single", "singles"),
    "artist": (
        "artist", "artists", "band", "bands", "singer", "singers", "rapper", "rappers",
        "musician", "musicians",
    ),
    "album": ("album", "albums", "record", "records", "ep", "eps", "lp", "lps"),
    "playlist": ("playlist", "playlists", "mix", "mixes"),
    "genre": ("genre", "genres"),
    "subgenre": ("subgenre", "subgenres", "sub genre", "sub genres"),
}

DECADE_WORDS = {
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
    "twenties": 2020,
}
_DECADE = re.compile(r"^(?:(19|20)([0-9])0|([0-9])0)s$", re.ASCII)
_YEAR = re.compile(r"^(19[0-9]{2}|20[0-9]{2})$", re.ASCII)
_DIGITS2_OR_4 = re.compile(r"^(?:19|20)?[0-9]0$", re.ASCII)

def era_of(tokens: tuple[str, ...]) -> dict[str, int] | None:
    """A year range for "80s", "1980s", "80 s" ("'80's"), "eighties" or "1987".

    >>> era_of(("80s",)), era_of(("2000s",)), era_of(("1987",))
    ({'gte': 1980, 'lt': 1990}, {'gte': 2000, 'lt': 2010}, {'gte': 1987, 'lt': 1988})
    >>> era_of(("10s",)), era_of(("90", "s")), era_of(("love",))
    ({'gte': 2010, 'lt': 2020}, {'gte': 1990, 'lt': 2000}, None)
    """
    if len(tokens) == 2 and tokens[1] == "s" and _DIGITS2_OR_4.match(tokens[0]):
        return era_of((tokens[0] + "s",))
    if len(tokens) != 1:
        return None
    token = tokens[0]
    if token in DECADE_WORDS:
        start = DECADE_WORDS[token]
        return {"gte": start, "lt": start + 10}
    m = _DECADE.match(token)
    if m:
        if m.group(1):
            start = int(m.group(1)) * 100 + int(m.group(2)) * 10
        else:
            d = int(m.group(3))
            start = (2000 if d <= 2 else 1900) + d * 10
        return {"gte": start, "lt": start + 10}
    m = _YEAR.match(token)
    if m:
        year = int(m.group(1))
        return {"gte": year, "lt": year + 1}
    return None
