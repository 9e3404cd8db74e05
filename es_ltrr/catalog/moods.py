"""Moods derived from Spotify audio features: one deterministic, documented rule.

The catalog has no mood labels, so moods are derived from the audio features (all in
0..1 except tempo in BPM). A track gets every mood whose condition holds, so it can have
several moods or none (25 % of the Spotify catalog has none). Thresholds sit near the
catalog's quartiles so each mood covers a sensible share of tracks (share of the 28,352
Spotify tracks in the last column):

============  ===============================================  =======
mood          condition                                        share
============  ===============================================  =======
happy         valence ≥ 0.65 and energy ≥ 0.50                 28 %
sad           valence ≤ 0.30 and energy < 0.65                 10 %
energetic     energy ≥ 0.80 and tempo ≥ 118                    24 %
chill         energy ≤ 0.50 and tempo ≤ 125                    10 %
danceable     danceability ≥ 0.75 and energy ≥ 0.55            21 %
acoustic      acousticness ≥ 0.50                              11 %
intense       energy ≥ 0.85 and valence ≤ 0.35                  7 %
instrumental  instrumentalness ≥ 0.50                           9 %
============  ===============================================  =======

`instrumental` uses Spotify's own threshold ("values above 0.5 are intended to represent
instrumental tracks"); it is the mood of "study" and "focus" queries, where vocals distract.

Aggregates (artists, albums, playlists, genres, subgenres) hold the moods that at least
30 % of their tracks hold, and always at least their most frequent mood when any track has
one (:func:`aggregate_moods`). `docs/catalog.md` carries the same table.

Examples
--------
>>> moods_for({"valence": 0.9, "energy": 0.7, "danceability": 0.8, "acousticness": 0.1,
...            "tempo": 120.0, "instrumentalness": 0.0})
['happy', 'danceable']
>>> moods_for({"valence": 0.1, "energy": 0.3, "danceability": 0.4, "acousticness": 0.8,
...            "tempo": 80.0, "instrumentalness": 0.9})
['sad', 'chill', 'acoustic', 'instrumental']
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Mapping

#: Feature name → value; the rule reads valence, energy, danceability, acousticness, tempo,
#: instrumentalness.
Features = Mapping[str, float]

#: The mood vocabulary, in the canonical order every mood list follows.
MOODS: tuple[str, ...] = (
    "happy",
    "sad",
    "energetic",
    "chill",
    "danceable",
    "acoustic",
    "intense",
    "instrumental",
)

_RULES: dict[str, Callable[[Features], bool]] = {
    "happy": lambda f: f["valence"] >= 0.65 and f["energy"] >= 0.50,
    "sad": lambda f: f["valence"] <= 0.30 and f["energy"] < 0.65,
    "energetic": lambda f: f["energy"] >= 0.80 and f["tempo"] >= 118.0,
    "chill": lambda f: f["energy"] <= 0.50 and f["tempo"] <= 125.0,
    "danceable": lambda f: f["danceability"] >= 0.75 and f["energy"] >= 0.55,
    "acoustic": lambda f: f["acousticness"] >= 0.50,
    "intense": lambda f: f["energy"] >= 0.85 and f["valence"] <= 0.35,
    "instrumental": lambda f: f["instrumentalness"] >= 0.50,
}

#: Share of an aggregate's tracks that must hold a mood for the aggregate to hold it.
AGGREGATE_SHARE = 0.30


def moods_for(features: Features) -> list[str]:
    """The moods of one track, in :data:`MOODS` order (possibly empty)."""
    return [mood for mood in MOODS if _RULES[mood](features)]


def aggregate_moods(track_moods: Iterable[Iterable[str]]) -> list[str]:
    """Moods held by ≥ 30 % of the tracks, at least the most frequent one.

    Ties for the most frequent mood go to the earlier mood in :data:`MOODS`.

    >>> aggregate_moods([["happy"], ["happy", "danceable"], ["sad", "danceable"], []])
    ['happy', 'danceable']
    >>> aggregate_moods([["sad"], [], [], [], []])
    ['sad']
    >>> aggregate_moods([[], []])
    []
    """
    counts: Counter[str] = Counter()
    n = 0
    for moods in track_moods:
        n += 1
        counts.update(moods)
    if not counts:
        return []
    top = max(MOODS, key=lambda m: (counts[m], -MOODS.index(m)))
    return [m for m in MOODS if m == top or counts[m] >= AGGREGATE_SHARE * n]
