"""The official Python clients behind a `ClusterEngine`: OpenSearch (opensearch-py) and
Elasticsearch (elasticsearch-py), the host list they share, and the flavor a URL answers as.

Several hosts (`--cluster URL1,URL2,...`) go to the official client's connection pool: requests
are spread round-robin over the live hosts, and a request that meets a refused or broken
connection (a dead host) or a 502/503/504 answer is sent again to the next host, every host
once at least (`max_retries`), while the dead one rests (opensearch-py: 60 s, doubling;
elasticsearch-py: 1 s, doubling up to 30 s) before a request probes it again. So one call
fails — and counts for the circuit breaker — only when no host could answer it: the breaker
and `health` see the cluster, not one host. With several hosts a call that times out is sent
once more to the next host too (a node rejoining with a cold JVM answered its first `sltr`
after 3 s, and the page fell back to fusion): a hung host costs that call one timeout, then
rests. A single node's timeout is final, as before (docs/cluster.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ...common.extras import require
from ...common.redact import redact_url, split_urls
from .cluster import CONNECTIONS, ClusterEngine, ClusterError, tls_hint


def hosts_of(url: str) -> list[str]:
    """The hosts of `--cluster` (one URL or several, comma-separated); ValueError naming a
    part that is not an http(s) URL.

    >>> hosts_of("http://127.0.0.1:9250, http://127.0.0.1:9251")
    ['http://127.0.0.1:9250', 'http://127.0.0.1:9251']
    """
    hosts = split_urls(url)
    bad = [redact_url(h) for h in hosts if not h.lower().startswith(("http://", "https://"))]
    if not hosts or bad:
        raise ValueError(f"--cluster {redact_url(url)!r}: expected http(s)://host:port URLs, comma-separated"
                         + (f" (not a URL: {', '.join(bad)})" if bad else ""))
    return hosts


def _retries(hosts: list[str]) -> int:
    """Retries per call: every host at least once after the first try (3 at least, as the
    clients' default, so a single host still rides out a dropped keep-alive connection)."""
    return max(3, len(hosts))


class OpenSearchEngine(ClusterEngine):
    flavor = "opensearch"

    def __init__(self, url: str, index: str, username: str | None = None, password: str | None = None,
                 verify_certs: bool = True, ca_certs: str | None = None, timeout_s: float = 10.0,
                 connections: int = CONNECTIONS):
        OpenSearch = require("opensearchpy", "cluster", "an OpenSearch cluster").OpenSearch

        auth = (username, password) if username else None
        hosts = hosts_of(url)
        # pool_maxsize: kept-alive connections per host (opensearch-py keeps 1 by default: more
        # threads log "Connection pool is full")
        client = OpenSearch(hosts=hosts, http_auth=auth, verify_certs=verify_certs, ca_certs=ca_certs,
                            timeout=timeout_s, ssl_show_warn=False, max_retries=_retries(hosts),
                            retry_on_timeout=len(hosts) > 1,
                            pool_maxsize=connections)
        super().__init__(client, index, timeout_s, url=url)
        self.timeout_errors = (require("opensearchpy", "cluster", "an OpenSearch cluster").ConnectionTimeout,)

    def _pool(self) -> list[tuple[str, bool]]:
        pool = self.client.transport.connection_pool
        live = {id(c) for c in pool.connections}
        return [(c.host, id(c) in live) for c in getattr(pool, "orig_connections", pool.connections)]

    def _perform(self, method: str, path: str, body: Any, params: dict, timeout_s: float | None) -> Any:
        # opensearch-py sets Content-Type itself; NDJSON bodies go as a string
        return self.client.transport.perform_request(method, path, body=body, params=params or None,
                                                     timeout=timeout_s)


class ElasticsearchEngine(ClusterEngine):
    flavor = "elasticsearch"

    def __init__(self, url: str, index: str, username: str | None = None, password: str | None = None,
                 verify_certs: bool = True, ca_certs: str | None = None, timeout_s: float = 10.0,
                 connections: int = CONNECTIONS):
        Elasticsearch = require("elasticsearch", "cluster", "an Elasticsearch cluster").Elasticsearch

        auth = (username, password) if username else None
        hosts = hosts_of(url)
        client = Elasticsearch(hosts, basic_auth=auth, verify_certs=verify_certs, ca_certs=ca_certs,
                               request_timeout=timeout_s, max_retries=_retries(hosts),
                               retry_on_timeout=len(hosts) > 1,
                               connections_per_node=connections)
        # the pool keeps its nodes in a set: `hosts()` lists them in the order given
        self._order = {(p.hostname, p.port or (443 if p.scheme == "https" else 80)): i
                       for i, p in enumerate(urlsplit(h) for h in hosts)}
        super().__init__(client, index, timeout_s, url=url)
        self.timeout_errors = (require("elasticsearch", "cluster", "an Elasticsearch cluster").ConnectionTimeout,)

    def _pool(self) -> list[tuple[str, bool]]:
        pool = self.client.transport.node_pool
        live = set(pool._alive_nodes)  # elastic-transport keeps no public view of it
        nodes = sorted(pool.all(), key=lambda n: self._order.get((n.config.host, n.config.port), len(self._order)))
        return [(node.base_url, node.config in live) for node in nodes]

    def _perform(self, method: str, path: str, body: Any, params: dict, timeout_s: float | None) -> Any:
        ndjson = isinstance(body, str)
        headers = {"accept": "application/json",
                   "content-type": "application/x-ndjson" if ndjson else "application/json"}
        if params:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(params)}"
        client = self.client.options(request_timeout=timeout_s) if timeout_s else self.client
        response = client.perform_request(method, path, headers=headers, body=body)
        return response.body


def detect_flavor(url: str, username: str | None = None, password: str | None = None,
                  verify_certs: bool = True, ca_certs: str | None = None) -> str:
    """'opensearch' or 'elasticsearch' from the root endpoint's `version.distribution` (of the
    first of several hosts that answers)."""
    requests = require("requests", "cluster", "a cluster")

    auth = (username, password) if username else None
    verify: bool | str = ca_certs or verify_certs
    failures = []
    for host in hosts_of(url):
        try:
            info = requests.get(host.rstrip("/") + "/", auth=auth, verify=verify, timeout=10).json()
        except Exception as exc:
            failures.append((host, exc))
            continue
        return "opensearch" if info.get("version", {}).get("distribution") == "opensearch" else "elasticsearch"
    host, exc = failures[0]
    more = f" (and {len(failures) - 1} more hosts)" if len(failures) > 1 else ""
    raise ClusterError(f"cannot reach cluster at {redact_url(host)}{more}: {exc}{tls_hint(exc)}") from exc
