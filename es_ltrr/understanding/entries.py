"""What a gazetteer is made of: `Entry` (one value under a key) and `Tables` (the built
content, as saved by `gazetteer_file` and loaded back into a `Gazetteer`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from es_ltrr.understanding.vocabulary import KIND_RANK, KIND_WEIGHT


@dataclass(frozen=True, slots=True)
class Entry:
    """One gazetteer value under a key: its kind, value, prior confidence, popularity."""

    kind: str
    value: Any
    prior: float
    popularity: float = 0.0
    entity_id: str | None = None

    def rank(self) -> tuple[float, int, float]:
        """Sort key (larger is better) among entries of one key."""
        return (self.prior * KIND_WEIGHT[self.kind], -KIND_RANK[self.kind], self.popularity)


class Tables(NamedTuple):
    """The built content of a gazetteer, as saved to disk."""

    #: normalized key → its entries, best first
    exact: dict[str, tuple[Entry, ...]]
    #: normalized key → the entry a fuzzy match on it stands for
    fuzzy: dict[str, Entry]
    #: normalized artist name → {normalized title → entry}: tracks, and albums apart
    artist_titles: dict[str, dict[str, Entry]]
    artist_albums: dict[str, dict[str, Entry]]
