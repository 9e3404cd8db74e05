"""How simulated users word their queries: templates for known items, artists and genres,
colloquial genre names, mood paraphrases and activities, decade spellings.

All of it is this simulator's own wording, none taken from the catalog's cold-start Q2E
generator (`es_ltrr/catalog/queries.py`), so the memory arm is not favoured by construction.
"""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Any, Mapping, Sequence

#: Ways to ask for a known track: (template, weight). {t} title, {a} artist.
TRACK_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("{t}", 0.25),
    ("{t} by {a}", 0.15),
    ("play {t} by {a}", 0.1),
    ("{t} song", 0.1),
    ("{a}'s {t}", 0.08),
    ("{t} {a} song", 0.07),
    ("{a} {t}", 0.07),
    ("play {t}", 0.08),
    ("the song {t}", 0.05),
    ("{t} lyrics", 0.05),
)
#: Ways to ask for an artist; the flag says whether the user wants their songs too.
ARTIST_TEMPLATES: tuple[tuple[str, float, bool], ...] = (
    ("{a}", 0.35, False),
    ("songs by {a}", 0.12, True),
    ("play {a}", 0.12, True),
    ("{a} top tracks", 0.1, True),
    ("best of {a}", 0.08, True),
    ("{a} greatest hits", 0.08, True),
    ("listen to {a}", 0.08, True),
    ("who is {a}", 0.07, False),
)
GENRE_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("{g}", 0.25),
    ("some {g}", 0.12),
    ("{g} tracks", 0.12),
    ("best {g}", 0.12),
    ("{g} hits", 0.12),
    ("play {g}", 0.1),
    ("{g} bangers", 0.07),
    ("songs like {g}", 0.1),
)
#: How people say a genre; includes forms query understanding may not know.
GENRE_COLLOQUIAL: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "r&b": ("r&b", "rnb", "r and b", "soul"),
        "edm": ("edm", "electronic", "electro", "dance music"),
        "rap": ("rap", "hip hop", "hip-hop"),
        "rock": ("rock", "rock music", "guitar rock"),
        "latin": ("latin", "latin music", "spanish music"),
        "pop": ("pop", "pop music", "chart pop"),
    }
)
#: Mood → how people ask for it with no genre; some phrases query understanding knows
#: ("workout"), some it does not ("to cry to", "cheer me up").
MOOD_PHRASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "happy": ("feel good music", "songs to cheer me up", "something upbeat",
                  "good mood songs", "happy tunes"),
        "sad": ("songs to cry to", "music for a breakup", "heartbreak songs",
                "melancholy music", "sad tunes"),
        "energetic": ("workout music", "songs for the gym", "high energy songs",
                      "pump up music", "running songs"),
        "chill": ("chill vibes", "something chill", "relaxing music", "music to unwind",
                  "calm songs for sleeping"),
        "danceable": ("party songs", "music to dance to", "dance floor bangers",
                      "club music", "groovy tunes"),
        "acoustic": ("acoustic songs", "unplugged music", "coffee shop music",
                     "campfire songs", "acoustic covers"),
        "intense": ("angry music", "aggressive songs", "intense music", "rage songs",
                    "dark heavy music"),
        "instrumental": ("music for studying", "something to focus", "study music no lyrics",
                         "instrumental music", "background music for work"),
    }
)
#: Mood → adjectives and activities used beside a genre ("mellow rap", "rock for the gym").
MOOD_ADJECTIVES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "happy": ("happy", "upbeat", "feel good", "cheerful"),
        "sad": ("sad", "melancholic", "heartbreak", "emotional"),
        "energetic": ("energetic", "high energy", "hype"),
        "chill": ("chill", "mellow", "laid back", "relaxing"),
        "danceable": ("danceable", "dance", "party"),
        "acoustic": ("acoustic", "unplugged", "stripped back"),
        "intense": ("intense", "aggressive", "angry", "heavy"),
        "instrumental": ("instrumental", "no vocals", "wordless"),
    }
)
MOOD_ACTIVITIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "happy": ("a road trip", "a sunny day"),
        "sad": ("a breakup", "a rainy night"),
        "energetic": ("the gym", "working out"),
        "chill": ("sleeping", "a lazy sunday"),
        "danceable": ("a party", "dancing"),
        "acoustic": ("dinner", "a coffee shop"),
        "intense": ("lifting", "venting"),
        "instrumental": ("studying", "coding"),
    }
)


def decade_forms(decade: int) -> tuple[str, ...]:
    """How people write a decade: "90s", "1990s", "nineties", "'90s"."""
    words = {1950: "fifties", 1960: "sixties", 1970: "seventies", 1980: "eighties",
             1990: "nineties", 2000: "noughties", 2010: "twenty tens", 2020: "twenties"}
    short = f"{decade % 100:02d}s"
    return (short, f"{decade}s", words.get(decade, f"{decade}s"), f"'{short}")


def weighted(options: Sequence[tuple[Any, ...]], rng: random.Random) -> tuple[Any, ...]:
    """One of `options`, drawn by its weight (the second element)."""
    return rng.choices(options, [o[1] for o in options])[0]
