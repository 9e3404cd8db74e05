"""Pick the engine from settings: a cluster when a URL is configured, else the embedded one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ...common.datadir import DataDir
from ...common.redact import redact_url
from ...common.settings import Settings
from .base import Engine
from .clients import ElasticsearchEngine, OpenSearchEngine, detect_flavor
from .cluster import CONNECTIONS, ClusterEngine
from .embedded import EmbeddedEngine

#: `search_type` values (None: the node's default, query_then_fetch).
SEARCH_TYPES = (None, "query_then_fetch", "dfs_query_then_fetch")


def check_cluster_url(url: str) -> None:
    """A ValueError naming what is wrong with a cluster URL the client libraries would refuse
    obscurely ("No connection adapters were found for '127.0.0.1:9200/'").

    >>> check_cluster_url("https://search.example.com:9200")
    >>> check_cluster_url("127.0.0.1:9200")
    Traceback (most recent call last):
    ...
    ValueError: --cluster 127.0.0.1:9200 has no scheme: use http://127.0.0.1:9200 (or https://127.0.0.1:9200)
    """
    shown = redact_url(url)
    if "://" not in url:
        raise ValueError(f"--cluster {shown} has no scheme: use http://{shown} (or https://{shown})")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"--cluster {shown}: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"--cluster {shown} names no host")


def cluster_engine(settings: Settings) -> ClusterEngine:
    """The OpenSearch or Elasticsearch engine for `settings.cluster_url` (flavor detected if unset)."""
    if not settings.cluster_url:
        raise ValueError("no cluster URL configured (--cluster URL or ES_LTRR_CLUSTER_URL)")
    check_cluster_url(settings.cluster_url)
    if settings.ca_certs and not Path(settings.ca_certs).is_file():
        raise ValueError(f"--ca-certs {settings.ca_certs}: no such file (the CA bundle that signed the cluster's certificate)")
    auth = dict(username=settings.username, password=settings.password,
                verify_certs=settings.verify_certs, ca_certs=settings.ca_certs)
    flavor = settings.flavor or detect_flavor(settings.cluster_url, **auth)
    if flavor not in ("opensearch", "elasticsearch"):
        raise ValueError(f"unknown flavor {flavor!r}: use opensearch or elasticsearch")
    cls = OpenSearchEngine if flavor == "opensearch" else ElasticsearchEngine
    engine = cls(settings.cluster_url, settings.index, timeout_s=settings.timeout_s,
                 connections=settings.cluster_connections or CONNECTIONS, **auth)
    engine.search_timeout_ms = settings.arm_timeout_ms
    if settings.search_type not in SEARCH_TYPES:
        raise ValueError(f"search_type {settings.search_type!r}: use {' or '.join(t for t in SEARCH_TYPES if t)}")
    engine.search_type = settings.search_type
    return engine


def make_engine(settings: Settings) -> Engine:
    if settings.cluster_url:
        return cluster_engine(settings)
    return EmbeddedEngine.load(DataDir(settings.data_dir).index_dir)
