"""Build everything a search needs from a catalog file: entities, vectors, the embedded
index, the gazetteer and catalog statistics — each step with progress, vectors cached."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import numpy as np
from tqdm import tqdm

from .arms import CatalogStats
from .catalog import load_catalog
from .catalog.texts import embedding_texts
from .config import Settings
from .datadir import DataDir
from .embedding import Encoder, embed_catalog
from .engines.base import Engine
from .engines.embedded import EmbeddedEngine
from .engines.factory import cluster_engine
from .schema import MUSIC
from .understanding import Gazetteer

Say = Callable[[str], None]


def catalog_stats(entities: list[dict]) -> CatalogStats:
    """Fresh = released in the catalog's last year; long tail = the least popular quarter."""
    dates = sorted(e["release_date"] for e in entities if e.get("release_date"))
    latest = dt.date.fromisoformat(dates[-1]) if dates else dt.date.today()
    popularity = [e["popularity"] for e in entities if e.get("type") == "track" and e.get("popularity") is not None]
    long_tail = float(np.percentile(popularity, 25)) if popularity else 30.0
    return CatalogStats(fresh_since=(latest - dt.timedelta(days=365)).isoformat(), long_tail_max=long_tail)


def build_index(settings: Settings, encoder: Encoder | None, say: Say = print) -> Engine:
    """Load the catalog, embed it (cached), index it and persist index + gazetteer + stats.

    With a cluster configured the documents go to its alias (created by `es-ltrr apply`);
    otherwise to the embedded engine, saved under the data dir. The data dir's manifest is
    written last (`DataDir.save_build`), so an interrupted build is rebuilt next time.
    """
    say(f"loading catalog {settings.catalog}")
    entities = load_catalog(settings.catalog)
    say(f"{len(entities):,} entities")
    if encoder is not None:
        texts = embedding_texts(entities)
        with tqdm(total=len(texts), desc="embedding", unit="entity", mininterval=2.0) as bar:
            vectors = embed_catalog(encoder, texts, settings.cache_dir, progress=bar.update)
        for entity, vector in zip(entities, vectors):
            entity["embedding"] = vector
    engine: Engine = cluster_engine(settings) if settings.cluster_url else EmbeddedEngine()
    with tqdm(total=len(entities), desc="indexing", unit="doc", mininterval=2.0) as bar:
        engine.index(entities, progress=bar.update)
    say("building gazetteer")
    gazetteer = Gazetteer.from_entities(entities)
    data = DataDir(settings.data_dir)
    if isinstance(engine, EmbeddedEngine):
        engine.save(data.index_dir)
    data.save_build(MUSIC, settings.catalog, len(entities), gazetteer, catalog_stats(entities))
    say(f"index written to {settings.data_dir}")
    return engine


def index_exists(settings: Settings) -> bool:
    """A finished build in the data dir (its manifest), and for the embedded engine its index."""
    data = DataDir(settings.data_dir)
    return data.exists() and (bool(settings.cluster_url) or data.index_dir.exists())
