"""Build everything a search needs from a catalog file: entities, vectors, the embedded
index, the gazetteer and catalog statistics — each step with progress, vectors cached."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .arms import CatalogStats
from .catalog import load_catalog
from .config import Settings
from .embedding import Encoder, embed_catalog
from .engines.base import Engine
from .engines.embedded import EmbeddedEngine
from .engines.factory import cluster_engine
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
    otherwise to the embedded engine, saved under the data dir.
    """
    say(f"loading catalog {settings.catalog}")
    entities = load_catalog(settings.catalog)
    say(f"{len(entities):,} entities")
    if encoder is not None:
        texts = [e.get("description") or e["name"] for e in entities]
        with tqdm(total=len(texts), desc="embedding", unit="entity", mininterval=2.0) as bar:
            vectors = embed_catalog(encoder, texts, settings.cache_dir, progress=bar.update)
        for entity, vector in zip(entities, vectors):
            entity["embedding"] = vector
    engine: Engine = cluster_engine(settings) if settings.cluster_url else EmbeddedEngine()
    with tqdm(total=len(entities), desc="indexing", unit="doc", mininterval=2.0) as bar:
        engine.index(entities, progress=bar.update)
    say("building gazetteer")
    gazetteer = Gazetteer.from_entities(entities)
    if isinstance(engine, EmbeddedEngine):
        engine.save(settings.engine_dir)
    save_artifacts(settings.data_dir, gazetteer, catalog_stats(entities))
    say(f"index written to {settings.data_dir}")
    return engine


def save_artifacts(data_dir: Path, gazetteer: Gazetteer, stats: CatalogStats) -> None:
    """What every engine needs beside the documents: the gazetteer and catalog statistics."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "gazetteer.pkl", "wb") as fh:
        pickle.dump(gazetteer, fh, protocol=pickle.HIGHEST_PROTOCOL)
    (data_dir / "catalog_stats.json").write_text(json.dumps(asdict(stats), indent=2))


def load_gazetteer(data_dir: Path) -> Gazetteer:
    with open(data_dir / "gazetteer.pkl", "rb") as fh:
        return pickle.load(fh)


def load_stats(data_dir: Path) -> CatalogStats:
    path = data_dir / "catalog_stats.json"
    return CatalogStats(**json.loads(path.read_text())) if path.exists() else CatalogStats()


def index_exists(settings: Settings) -> bool:
    """Gazetteer present, and for the embedded engine its saved index too."""
    has_gazetteer = (settings.data_dir / "gazetteer.pkl").exists()
    return has_gazetteer and (bool(settings.cluster_url) or settings.engine_dir.exists())
