"""Fixtures shared by the OpenSearch and Elasticsearch suites.

Each test module defines `settings` (node URL, flavor, a per-run alias, the small catalog)
and `applied` (the index behind the alias); everything built on them lives here once.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from es_ltrr.arms import ARMS
from es_ltrr.engines.cluster import ClusterError
from es_ltrr.engines.factory import cluster_engine

#: Queries for parity and search checks on the small catalog slice.
QUERIES = [
    "memories maroon 5", "ed sheeran", "dance pop", "happy songs", "remix", "i dont care",
    "pop remix", "loud luxury", "love", "summer", "electro house", "the chainsmokers",
    "sad songs", "tropical", "dance", "justin bieber", "party", "edm", "bad", "night",
]


def delete_indices(engine, pattern: str) -> None:
    """Delete the indices matching `pattern` by name (Elasticsearch 8 refuses wildcard deletes)."""
    rows = engine.request("GET", f"/_cat/indices/{pattern}", params={"format": "json", "h": "index",
                                                                      "expand_wildcards": "all"})
    names = [row["index"] for row in rows]
    if names:
        engine.request("DELETE", "/" + ",".join(names))


@pytest.fixture(scope="module")
def engine(settings):
    """The module's cluster engine; removes its indices and stored templates afterwards."""
    engine = cluster_engine(settings)
    yield engine
    delete_indices(engine, f"{settings.index}-*")
    for name in ARMS:
        try:
            engine.request("DELETE", f"/_scripts/{settings.index}-{name}")
        except ClusterError:  # never stored (no lang-mustache, or a test failed before apply)
            pass


@pytest.fixture(scope="module")
def indexed(settings, applied):
    from es_ltrr.embedding import Encoder
    from es_ltrr.indexing import build_index

    return build_index(settings, Encoder(), say=lambda _: None)


@pytest.fixture(scope="module")
def cluster_searcher(settings, indexed):
    from es_ltrr.app import build_searcher

    return build_searcher(settings, say=lambda _: None)


@pytest.fixture(scope="module")
def embedded_searcher(settings, tmp_path_factory):
    """The same catalog slice on the embedded engine, for parity."""
    from es_ltrr.app import build_searcher

    local = replace(settings, cluster_url=None, data_dir=tmp_path_factory.mktemp("embedded"))
    return build_searcher(local, say=lambda _: None)
