"""Engines backed by a real cluster: OpenSearch (opensearch-py) and Elasticsearch
(elasticsearch-py), sharing one implementation of everything but the client.

Both speak the same REST API for what es-ltrr needs (`_msearch`, `_bulk`, `_mget`,
aliases, `_reindex`, search templates; the LTR plugin's `_ltr` calls are `es_ltrr.ranking.ltr.plugin`), so
`ClusterEngine` writes each operation once against a small `_request`/`_client` surface.

The official clients behind the two flavors, and the host list with its failover, are
`clients.py`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ...common.redact import redact_url
from ...common.schema import Capabilities
from .base import DocumentMissing, EngineError, check_update, error_item

BULK_CHUNK = 500
MAX_PARALLEL = 8  # requests at once when the bodies of a late _msearch are sent one by one
#: Connections kept open per node for one searching thread: its parallel requests, one for the
#: background fold (UBI mirror, Q2E memory) and one for /healthz (`serve` adds one per thread).
CONNECTIONS = MAX_PARALLEL + 2
SCROLL_PAGE = 5000  # ids per page when scanning for stale documents


class ClusterError(EngineError):
    """A cluster answered with an error (or could not be reached); message says which call."""

    error_type = "cluster_exception"

    def __init__(self, message: str, status: int = 502, timed_out: bool = False):
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out  # the client gave up waiting (the cluster may still be working)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [float(x) for x in value.astype(np.float32)]
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


class CircuitBreaker:
    """Fail fast while a cluster is unreachable.

    After `threshold` consecutive failed calls (connection errors, timeouts, 5xx; not 4xx
    answers: those mean the cluster is up) the circuit opens for `cooldown_s`: calls fail at
    once instead of each search waiting for a timeout. Then one call is let through to probe,
    and its success closes the circuit.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()  # searches run on many server threads

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if self.clock() - self.opened_at >= self.cooldown_s:
                self.opened_at = None  # half-open: let one call probe
                self.failures = self.threshold - 1
                return True
            return False

    def record(self, ok: bool) -> None:
        with self._lock:
            self.failures = 0 if ok else self.failures + 1
            if self.failures >= self.threshold:
                self.opened_at = self.clock()


class ClusterEngine:
    """Common behaviour; subclasses set `flavor` and build `client`."""

    flavor = "cluster"
    #: Search-side time budget per msearch body (ms); None sends no `timeout`.
    search_timeout_ms: int | None = 1000
    #: How much longer than the search budget the client waits for an answer: the node checks
    #: its `timeout` only between blocks of documents, and not at all in some phases (a kNN
    #: graph walk, a script on a small segment).
    deadline_grace_s: float = 1.0
    #: The client library's timeout exception types (set by the subclass).
    timeout_errors: tuple[type[BaseException], ...] = ()
    #: Sent with every msearch body when set: `dfs_query_then_fetch` gathers term statistics
    #: from every shard first (one more round trip), so BM25 scores as on one shard.
    search_type: str | None = None

    def __init__(self, client: Any, index: str, timeout_s: float = 10.0, breaker: CircuitBreaker | None = None,
                 url: str = "", capabilities: Capabilities | None = None):
        self.client = client
        self.url = redact_url(url)  # for messages: a connection or TLS failure names the cluster
        self.index_name = index
        self.timeout_s = timeout_s
        self.breaker = breaker or CircuitBreaker()
        self._capabilities = capabilities  # None: asked of the cluster on first use
        self._capabilities_lock = threading.Lock()

    # -- transport ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None,
                timeout_s: float | None = None) -> Any:
        """Raw REST call (waiting at most `timeout_s`, default the engine's `timeout_s`);
        raises ClusterError with the path and the server's reason."""
        if not self.breaker.allow():
            raise ClusterError(f"{method} {path} not sent: circuit open after repeated failures "
                               f"(retrying every {self.breaker.cooldown_s:g} s)", 503)
        try:
            result = self._perform(method, path, body, params or {}, timeout_s)
        except Exception as exc:  # client libraries raise many types; surface one
            status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
            answered = isinstance(status, int) and status < 500
            self.breaker.record(answered)
            where = "" if isinstance(status, int) or not self.url else f" ({self.url})"
            raise ClusterError(f"{method} {path}{where} failed: {_reason(exc)}{tls_hint(exc)}",
                               status if isinstance(status, int) else 502,
                               timed_out=isinstance(exc, self.timeout_errors)) from exc
        self.breaker.record(True)
        return result

    def _perform(self, method: str, path: str, body: Any, params: dict, timeout_s: float | None) -> Any:
        raise NotImplementedError

    # -- what the cluster offers ------------------------------------------------------------

    def components(self) -> set[str]:
        """Names of the plugins and modules installed on every node (the intersection)."""
        return self._nodes()[0]

    def _nodes(self) -> tuple[set[str], tuple[int, ...]]:
        """The plugins and modules every node has, and the oldest node's version, e.g. (8, 19, 21)."""
        nodes = list(self.request("GET", "/_nodes/plugins")["nodes"].values())
        sets = [{p["name"] for p in n.get("plugins", [])} | {m["name"] for m in n.get("modules", [])}
                for n in nodes]
        versions = [tuple(int(part) for part in str(n["version"]).split("-")[0].split(".") if part.isdigit())
                    for n in nodes if "version" in n]
        return (set.intersection(*sets) if sets else set()), min(versions, default=())

    @property
    def capabilities(self) -> Capabilities:
        """What the cluster's modules allow (how the Q2E memory is stored and queried, which
        analysis exists), asked once (`_nodes/plugins`). A node that
        cannot be asked (unreachable, or a user without the monitor privilege) is taken to be
        a full cluster; an unreachable one is asked again next time."""
        with self._capabilities_lock:
            if self._capabilities is None:
                try:
                    self._capabilities = Capabilities.of(self.flavor, *self._nodes())
                except ClusterError as exc:
                    if exc.status >= 500:
                        return Capabilities()
                    self._capabilities = Capabilities()
                except (KeyError, TypeError, ValueError):  # an answer of another shape
                    self._capabilities = Capabilities()
            return self._capabilities

    @property
    def search_deadline_s(self) -> float:
        """How long a search waits for its arms: the per-arm budget plus the grace."""
        if not self.search_timeout_ms:
            return self.timeout_s
        return min(self.timeout_s, self.search_timeout_ms / 1000 + self.deadline_grace_s)

    # -- Engine protocol ------------------------------------------------------------------

    def msearch(self, bodies: list[dict]) -> list[dict]:
        """One `_msearch` round trip for all bodies; a failing body is an error item.

        Each body carries the per-arm budget as the search `timeout`, so a slow arm answers
        with the hits it has (`timed_out`). An arm the node cannot stop in time (the check
        runs between blocks of documents) holds the whole `_msearch` back: after
        `search_deadline_s` the bodies are sent again one request each, in parallel, under
        the same deadline, and the ones that still do not answer come back as `timed_out`
        error items. The page is late at most twice the deadline and keeps the others' hits.
        """
        if not bodies:
            return []
        deadline = self.search_deadline_s
        try:
            return self.request("POST", "/_msearch", self._ndjson(bodies), timeout_s=deadline)["responses"]
        except ClusterError as exc:
            if exc.timed_out:
                return self._each(bodies, deadline) if len(bodies) > 1 else [{**error_item(exc), "timed_out": True}]
            if exc.status != 400 or len(bodies) == 1:
                return [error_item(exc)] * len(bodies)
            # The REST layer parses every body before running any: one malformed body fails
            # the whole _msearch. Retry one by one so the healthy arms still answer.
            return [self.msearch([body])[0] for body in bodies]

    def _ndjson(self, bodies: list[dict]) -> str:
        lines = []
        for body in bodies:
            if self.search_timeout_ms and "timeout" not in body:
                body = {**body, "timeout": f"{int(self.search_timeout_ms)}ms"}
            header = {"index": self.index_name}
            if self.search_type:
                header["search_type"] = self.search_type
            lines.append(json.dumps(header))
            lines.append(json.dumps(body, default=_jsonable))
        return "\n".join(lines) + "\n"

    def _each(self, bodies: list[dict], deadline: float) -> list[dict]:
        """Every body as its own `_msearch`, all at once: the slow arm no longer holds the others."""
        def one(body: dict) -> dict:
            try:
                return self.request("POST", "/_msearch", self._ndjson([body]), timeout_s=deadline)["responses"][0]
            except ClusterError as exc:
                return {**error_item(exc), "timed_out": True} if exc.timed_out else error_item(exc)

        # a search has a handful of arms; feature logging may send dozens of bodies
        with ThreadPoolExecutor(max_workers=min(len(bodies), MAX_PARALLEL), thread_name_prefix="es-ltrr-arm") as pool:
            return list(pool.map(one, bodies))

    def index(self, docs: Iterable[dict], progress: Callable[[int], None] | None = None) -> int:
        """Replace the corpus behind the alias with `docs`: bulk-index them by id, refresh, then
        delete the documents this run did not write (found by a scroll over the ids, since
        `_delete_by_query` needs the reindex module, which not every node has)."""
        seen: set[str] = set()
        chunk: list[str] = []
        for doc in docs:
            seen.add(str(doc["id"]))
            source = {k: _jsonable(v) for k, v in doc.items()}
            chunk.append(json.dumps({"index": {"_index": self.index_name, "_id": doc["id"]}}))
            chunk.append(json.dumps(source, default=_jsonable))
            if len(chunk) >= 2 * BULK_CHUNK:
                self._bulk(chunk, progress)
                chunk = []
        if chunk:
            self._bulk(chunk, progress)
        self.request("POST", f"/{self.index_name}/_refresh")
        stale = [doc_id for doc_id in self._all_ids() if doc_id not in seen]
        for start in range(0, len(stale), BULK_CHUNK):
            self._bulk([json.dumps({"delete": {"_index": self.index_name, "_id": doc_id}})
                        for doc_id in stale[start:start + BULK_CHUNK]], None)
        if stale:
            self.request("POST", f"/{self.index_name}/_refresh")
        return len(seen)

    def _all_ids(self) -> Iterator[str]:
        """Every document id behind the alias: a scroll in `_doc` order, without sources."""
        body = {"size": SCROLL_PAGE, "_source": False, "sort": ["_doc"]}
        page = self.request("POST", f"/{self.index_name}/_search", body, params={"scroll": "1m"})
        try:
            while page["hits"]["hits"]:
                yield from (hit["_id"] for hit in page["hits"]["hits"])
                page = self.request("POST", "/_search/scroll",
                                    {"scroll": "1m", "scroll_id": page["_scroll_id"]})
        finally:
            self.request("DELETE", "/_search/scroll", {"scroll_id": [page["_scroll_id"]]})

    def update(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Partial updates by id (top-level fields replaced, see `Engine.update`) in one `_bulk`.

        `_update` with `doc` would merge objects key by key (a Q2E memory could never drop a
        key, and rank_features refuses null), and scripts need lang-painless; so each document
        is read (`_mget`, which also finds unknown ids before anything is written), merged here
        and written back with `if_seq_no`/`if_primary_term`: a concurrent write is a conflict
        error, never a lost update. The bulk uses `refresh=wait_for`: it returns once the next
        search sees the change, without forcing a new segment per call as frequent small
        updates would. Per-document failures raise `ClusterError` naming the ids; the other
        documents of the bulk stay updated (a cluster has no multi-document transaction).
        """
        if not updates:
            return 0
        current = self._current(updates)
        known = self._strict_fields()
        for doc_id, fields in updates.items():
            check_update(str(doc_id), fields, known)
        lines: list[str] = []
        for doc_id, fields in updates.items():
            doc = current[str(doc_id)]
            guard = {"if_seq_no": doc["_seq_no"], "if_primary_term": doc["_primary_term"]}
            lines.append(json.dumps({"index": {"_index": self.index_name, "_id": str(doc_id), **guard}}))
            lines.append(json.dumps({**doc["_source"], **fields}, default=_jsonable))
        self._bulk(lines, None, params={"refresh": "wait_for"})
        return len(updates)

    def _current(self, ids: Iterable[Any]) -> dict[str, dict]:
        """Source and sequence number of each id; DocumentMissing if any is not indexed."""
        found = self.request("POST", f"/{self.index_name}/_mget", {"ids": [str(i) for i in ids]})["docs"]
        missing = [d["_id"] for d in found if not d.get("found")]
        if missing:
            raise DocumentMissing(missing)
        return {d["_id"]: d for d in found}

    def _strict_fields(self) -> set[str] | None:
        """Top-level fields of the alias's strict mapping; None if it accepts new fields."""
        known: set[str] = set()
        for index in self.request("GET", f"/{self.index_name}/_mapping").values():
            mapping = index["mappings"]
            if mapping.get("dynamic") != "strict":
                return None
            known |= mapping.get("properties", {}).keys()
        return known

    def _bulk(self, lines: list[str], progress: Callable[[int], None] | None,
              params: dict | None = None) -> None:
        """One `_bulk` request; any failed item raises ClusterError naming the ids."""
        result = self.request("POST", "/_bulk", "\n".join(lines) + "\n", params=params)
        if result.get("errors"):
            failed = [item for entry in result["items"] for item in entry.values() if item.get("error")]
            ids = sorted({str(item["_id"]) for item in failed})
            first = failed[0]
            raise ClusterError(f"bulk failed for {len(ids)} docs {ids[:20]}; first: {first['_id']!r}: {first['error']}")
        if progress:
            progress(len(lines) // 2)

    def get(self, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        result = self.request("POST", f"/{self.index_name}/_mget", {"ids": list(ids)})
        return {d["_id"]: d["_source"] for d in result["docs"] if d.get("found")}

    def health(self) -> dict:
        """The cluster's health (`_cluster/health` through any live host), the alias's document
        count, and with several hosts each one's state in the client's pool (`hosts`)."""
        try:
            # as long as a search may wait: a hung node must not hold /healthz for timeout_s; the
            # health of the alias's own indices (an unrelated red index must not take every
            # sidecar out of a load balancer while its searches answer)
            health = self.request("GET", f"/_cluster/health/{self.index_name}", timeout_s=self.search_deadline_s)
            count = self.request("GET", f"/{self.index_name}/_count", timeout_s=self.search_deadline_s)["count"]
        except ClusterError as exc:
            return {"status": "red", "flavor": self.flavor, "error": str(exc), **self._hosts_field()}
        return {"status": health["status"], "docs": count, "flavor": self.flavor, "index": self.index_name,
                "nodes": health.get("number_of_nodes"), **self._hosts_field()}

    def _hosts_field(self) -> dict:
        hosts = self.hosts()
        return {"hosts": hosts} if len(hosts) > 1 else {}

    def hosts(self) -> list[dict]:
        """Each configured host (password masked) and whether the client's pool holds it alive
        (a host that refused a connection rests before it is tried again)."""
        return [{"url": redact_url(url), "alive": up} for url, up in self._pool()]

    def _pool(self) -> list[tuple[str, bool]]:
        """(host URL, alive) per host of the client's connection pool; the subclass reads it."""
        return []



def tls_hint(exc: BaseException) -> str:
    """What to do about a certificate the client could not verify ('' for other errors)."""
    if "CERTIFICATE_VERIFY_FAILED" not in f"{exc!r} {exc}":
        return ""
    return (" — certificate verify failed: the cluster's TLS certificate is not signed by a CA this client "
            "trusts; pass the CA that signed it with --ca-certs (ca_certs in the settings)")


def _reason(exc: Exception) -> str:
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    if isinstance(info, dict):
        err = info.get("error", info)
        if isinstance(err, dict):
            reason = f"{err.get('type', '')}: {err.get('reason', err)}"
            # e.g. "[bool] failed to parse field [should]" hides "unknown query [rank_feature]"
            roots = [c.get("reason") for c in err.get("root_cause") or () if isinstance(c, dict)]
            roots = [r for r in dict.fromkeys(roots) if r and r != err.get("reason")]
            return reason + (f" (root cause: {'; '.join(roots)})" if roots else "")
        return str(err)
    return f"{type(exc).__name__}: {exc}"
