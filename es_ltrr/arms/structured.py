"""Query understanding + structured search: tagged slots become filters and boosts.

Entity type, genre, subgenre, mood and era narrow the candidates (filters); artist and
known names raise matching entities (boosts, so a wrong tag costs rank, not recall); the
words no slot explains are matched as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Arm, ArmInput

if TYPE_CHECKING:
    from ..understanding import Understanding

#: Slots below this confidence are ignored: a weak guess should not filter results away.
MIN_CONFIDENCE = 0.6


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
    artists = _values(u, "artist")
    # a genre or subgenre slot also names its own entity page ("neo soul" → the subgenre)
    names = _values(u, "track") + _values(u, "album") + _values(u, "playlist") + genres + subgenres
    if not any((types, genres, subgenres, moods, eras, artists, names)):
        return None
    return {
        "has_text": bool(u.residual),
        "text": u.residual_text,
        "has_types": bool(types), "types": types,
        "has_genres": bool(genres), "genres": genres,
        "has_subgenres": bool(subgenres), "subgenres": subgenres,
        "has_moods": bool(moods), "moods": moods,
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
