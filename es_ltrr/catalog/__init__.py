"""Catalogs → entity documents (the `MUSIC` schema shape), with cold-start Q2E queries.

* :func:`load_catalog` — any supported file (Spotify CSV or JSON lines), by suffix;
* :func:`load_spotify` — the shipped Spotify songs catalog (`DEFAULT_CATALOG`);
* :func:`predicted_queries` — the cold-start queries of one entity;
* :data:`MOODS`, :func:`moods_for` — the audio-feature mood rule.

See `docs/catalog.md` for entities, ids, fields and the rules.
"""

from es_ltrr.catalog.generic import load_catalog, load_jsonl, read_jsonl
from es_ltrr.catalog.moods import MOODS, aggregate_moods, moods_for
from es_ltrr.catalog.queries import MAX_QUERIES, attach_predicted_queries, core_title, predicted_queries
from es_ltrr.catalog.spotify import DEFAULT_CATALOG, ENTITY_TYPES, LoadStats, SpotifyCatalog, load_spotify, read_spotify

__all__ = [
    "DEFAULT_CATALOG",
    "ENTITY_TYPES",
    "MAX_QUERIES",
    "MOODS",
    "LoadStats",
    "SpotifyCatalog",
    "aggregate_moods",
    "attach_predicted_queries",
    "core_title",
    "load_catalog",
    "load_jsonl",
    "load_spotify",
    "moods_for",
    "predicted_queries",
    "read_jsonl",
    "read_spotify",
]
