"""Catalog-level constants some arms need — what counts as fresh, what as long tail — computed
once per build and kept in the data dir (`catalog_stats.json`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..common.datadir import REBUILD, DataDirError


@dataclass(frozen=True)
class CatalogStats:
    """What counts as fresh (released since) and long tail (popularity at most)."""

    fresh_since: str = "2019-06-01"
    long_tail_max: float = 30.0

    @classmethod
    def of(cls, entities: Iterable[Mapping[str, Any]]) -> "CatalogStats":
        """Fresh = released in the catalog's last year; long tail = the least popular quarter.

        >>> CatalogStats.of([{"type": "track", "release_date": "2020-03-01", "popularity": 10}])
        CatalogStats(fresh_since='2019-03-02', long_tail_max=10.0)
        """
        entities = list(entities)
        dates = sorted(e["release_date"] for e in entities if e.get("release_date"))
        latest = dt.date.fromisoformat(dates[-1]) if dates else dt.date.today()
        popularity = [e["popularity"] for e in entities if e.get("type") == "track" and e.get("popularity") is not None]
        long_tail = float(np.percentile(popularity, 25)) if popularity else 30.0
        return cls(fresh_since=(latest - dt.timedelta(days=365)).isoformat(), long_tail_max=long_tail)

    @classmethod
    def load(cls, path: Path) -> "CatalogStats":
        """Read a build's stats; an unreadable file is a DataDirError saying how to rebuild."""
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise DataDirError(f"{path} is unreadable ({exc}): {REBUILD}") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
