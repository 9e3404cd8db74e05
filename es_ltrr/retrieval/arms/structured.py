"""Query understanding + structured search: tagged slots become filters and boosts.

Entity type, genre, subgenre, mood and era narrow the candidates (filters; several moods
must all hold: "sad acoustic songs" are sad *and* acoustic); artist and known names raise
matching entities. When the query names an artist or a title, at least one of them must
match: the arm returns only what it understood, never the rest of the catalog ranked by
popularity (which filled known-item pages with the chart). The words no slot explains are
matched as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...catalog.names import STOPWORDS
from .base import Arm, ArmInput

if TYPE_CHECKING:
    from ...understanding import Understanding

#: Slots below this confidence are ignored: a weak guess should not filter results away.
MIN_CONFIDENCE = 0.6
#: Mood filters the template holds (more moods in one query are rare; the rest are dropped).
MAX_MOODS = 3


def _values(u: Understanding, kind: str) -> list:
    seen: list = []
    for slot in u.slots:
        if slot.kind == kind and slot.confidence >= MIN_CONFIDENCE and slot.value not in seen:
            seen.append(slot.value)
    return seen


def structured_params(inp: ArmInput) -> dict | None:
    u = inp.understanding
    types = _values(u, "entity_type")
    genres = _values(u, "genre")
    subgenres = _values(u, "subgenre")
    moods = _values(u, "mood")
    eras = _values(u, "era")
    titles = _values(u, "track") + _values(u, "album") + _values(u, "playlist")
    # a known item's artist fills its page with what relates to it (other songs, albums)
    artists = _values(u, "artist") + [s.artist for s in u.slots if s.artist and s.confidence >= MIN_CONFIDENCE]
    # a genre or subgenre slot also names its own entity page ("neo soul" → the subgenre)
    names = titles + genres + subgenres
    if not any((types, genres, subgenres, moods, eras, artists, names)):
        return None
    # words no slot explains must match as text, but not filler ("sixties music": the era is
    # the query; requiring "music" in a 1960s name returned nothing)
    residual = [t for t in u.residual if t not in STOPWORDS]
    return {
        **_mood_params(moods),
        "min_should": 1 if artists or titles else 0,
        "has_text": bool(residual),
        "text": " ".join(residual),
        "has_types": bool(types), "types": types,
        "has_genres": bool(genres), "genres": genres,
        "has_subgenres": bool(subgenres), "subgenres": subgenres,
        "has_era": bool(eras), "era": eras[0] if eras else {},
        "has_artist": bool(artists), "artists": artists,
        "has_names": bool(names), "names": names,
    }


ARM = Arm(
    "structured",
    "structured",
    structured_params,
    default_depth=50,
    description="filters (type, genre, subgenre, mood, era) and boosts (artist, names) from QU slots",
)


def _mood_params(moods: list) -> dict:
    """`has_moodN`/`moodN` for the template's fixed mood filters (all must hold)."""
    params: dict = {}
    for i in range(1, MAX_MOODS + 1):
        mood = moods[i - 1] if i <= len(moods) else ""
        params[f"has_mood{i}"], params[f"mood{i}"] = bool(mood), mood
    return params
