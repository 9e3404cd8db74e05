"""Build everything a search needs from a catalog file: entities, vectors, the embedded
index, the gazetteer and catalog statistics — each step with progress, vectors cached."""

from __future__ import annotations

from typing import Callable

from tqdm import tqdm

from ..catalog import load_catalog
from ..catalog.stats import CatalogStats
from ..catalog.texts import embedding_texts
from ..common.datadir import DataDir
from ..common.schema import MUSIC
from ..common.settings import Settings
from ..understanding import Gazetteer
from .embedding import Encoder, embed_catalog
from .engines.base import Engine
from .engines.cluster import ClusterEngine, ClusterError
from .engines.embedded import EmbeddedEngine
from .engines.factory import cluster_engine

Say = Callable[[str], None]


class NotApplied(ValueError):
    """The cluster has no alias `es-ltrr apply` made: indexing would write into nothing es-ltrr manages."""


def check_alias(engine: ClusterEngine) -> None:
    """Before anything is written: the engine's alias exists, as an alias. Bulk-indexing into a
    name that does not exist auto-creates a concrete index with dynamic mappings — it failed
    on the field limit, kept what it had written, and then blocked `es-ltrr apply`. Raises
    NotApplied saying what to do; also tells at once when the cluster cannot be reached."""
    alias = engine.index_name
    try:
        if engine.request("HEAD", f"/_alias/{alias}") is True:  # HEAD: a missing alias logs no 404
            return
    except ClusterError as exc:
        if exc.status in (401, 403):  # a HEAD answer has no body: ask again for the cluster's reason
            engine.request("GET", f"/_alias/{alias}")
        raise
    where = f" on {engine.url}" if engine.url else ""
    if engine.request("HEAD", f"/{alias}") is True:
        raise NotApplied(f"{alias!r}{where} is a concrete index, not an alias: es-ltrr indexes into the versioned "
                         "index `es-ltrr apply` puts behind an alias of that name. Choose another --index, or "
                         "reindex that index elsewhere and delete it; nothing was written")
    raise NotApplied(f"no alias {alias!r}{where}: run `es-ltrr --cluster URL apply` first (with the same --index): "
                     "it creates the index behind the alias with es-ltrr's mappings; nothing was written")


def build_index(settings: Settings, encoder: Encoder | None, say: Say = print) -> Engine:
    """Load the catalog, embed it (cached), index it and persist index + gazetteer + stats.

    With a cluster configured the documents go to its alias (created by `es-ltrr apply`):
    the cluster is asked first, before the catalog is read and embedded, whether it can be
    reached and holds the alias (`check_alias`); otherwise to the embedded engine, saved under
    the data dir. The data dir's manifest is written last (`DataDir.save_build`), so an
    interrupted build is rebuilt next time.
    """
    engine: Engine = cluster_engine(settings) if settings.cluster_url else EmbeddedEngine()
    if isinstance(engine, ClusterEngine):
        check_alias(engine)
    say(f"loading catalog {settings.catalog}")
    entities = load_catalog(settings.catalog)
    say(f"{len(entities):,} entities")
    if encoder is not None:
        texts = embedding_texts(entities)
        with tqdm(total=len(texts), desc="embedding", unit="entity", mininterval=2.0) as bar:
            vectors = embed_catalog(encoder, texts, settings.cache_dir, progress=bar.update)
        for entity, vector in zip(entities, vectors):
            entity["embedding"] = vector
    with tqdm(total=len(entities), desc="indexing", unit="doc", mininterval=2.0) as bar:
        engine.index(entities, progress=bar.update)
    say("building gazetteer")
    gazetteer = Gazetteer.from_entities(entities)
    data = DataDir(settings.data_dir)
    if isinstance(engine, EmbeddedEngine):
        engine.save(data.index_dir)
    data.save_build(MUSIC, settings.catalog, len(entities), gazetteer, CatalogStats.of(entities).to_dict())
    say(f"index written to {settings.data_dir}")
    return engine


def index_exists(settings: Settings) -> bool:
    """A finished build in the data dir (its manifest), and for the embedded engine its index."""
    data = DataDir(settings.data_dir)
    return data.exists() and (bool(settings.cluster_url) or data.index_dir.exists())
