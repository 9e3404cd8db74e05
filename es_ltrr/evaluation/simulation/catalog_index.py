"""What the simulated users know of the catalog: inverted lists by type, work, artist,
genre label and mood (most popular first), and popularity-weighted target pools."""

from __future__ import annotations

import bisect
import math
import random
from functools import lru_cache
from itertools import accumulate
from typing import Any, Iterable, Mapping

from es_ltrr.catalog.names import core_title
from es_ltrr.common.analysis import normalize_query


@lru_cache(maxsize=None)
def norm(text: str) -> str:
    return normalize_query(text)


def labels(entity: Mapping[str, Any]) -> list[str]:
    """Genre and subgenre labels of an entity, lower-cased."""
    return [str(g).lower() for g in (entity.get("genres") or []) + (entity.get("subgenres") or [])]


class TargetPool:
    """Entities one intent may target, drawn with weight exp(popularity / T) by bisection."""

    def __init__(self, entities: list[Mapping[str, Any]], temperature: float) -> None:
        self.entities = entities
        self._cum = list(
            accumulate(math.exp(float(e.get("popularity") or 0.0) / temperature) for e in entities)
        )

    def __bool__(self) -> bool:
        return bool(self.entities)

    def draw(self, rng: random.Random) -> Mapping[str, Any]:
        x = rng.random() * self._cum[-1]
        return self.entities[min(bisect.bisect_right(self._cum, x), len(self.entities) - 1)]


class CatalogIndex:
    """Inverted lists over the catalog, each sorted by popularity (most popular first)."""

    def __init__(self, entities: Iterable[Mapping[str, Any]]) -> None:
        ordered = sorted(entities, key=lambda e: -float(e.get("popularity") or 0.0))
        self.by_id: dict[str, Mapping[str, Any]] = {}
        self.by_type: dict[str, list[Mapping[str, Any]]] = {}
        self.work: dict[tuple[str, str], list[str]] = {}
        self.tracks_by_artist: dict[str, list[str]] = {}
        self.albums_by_artist: dict[str, list[str]] = {}
        self.artist_by_name: dict[str, str] = {}
        self.by_label: dict[tuple[str, str], list[str]] = {}  # (type, genre label) → ids
        self.by_mood: dict[tuple[str, str], list[str]] = {}  # (type, mood) → ids
        for e in ordered:
            self._add(e)

    def _add(self, e: Mapping[str, Any]) -> None:
        kind, eid = e.get("type", ""), e["id"]
        self.by_id[eid] = e
        self.by_type.setdefault(kind, []).append(e)
        artist = norm(e.get("artist") or "")
        if kind == "track":
            self.work.setdefault(self.work_key(e), []).append(eid)
            self.tracks_by_artist.setdefault(artist, []).append(eid)
        elif kind == "album":
            self.albums_by_artist.setdefault(artist, []).append(eid)
        elif kind == "artist":
            self.artist_by_name.setdefault(norm(e["name"]), eid)
        for label in dict.fromkeys(labels(e)):
            self.by_label.setdefault((kind, label), []).append(eid)
        for mood in e.get("moods") or ():
            self.by_mood.setdefault((kind, mood), []).append(eid)

    @staticmethod
    def work_key(e: Mapping[str, Any]) -> tuple[str, str]:
        """Versions of one work share a core title and an artist."""
        return norm(core_title(e["name"])), norm(e.get("artist") or "")
