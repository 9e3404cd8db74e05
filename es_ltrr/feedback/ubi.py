"""The log mirrored into a cluster's User Behavior Insights indices (`ubi_queries`,
`ubi_events`), so UBI dashboards, SQL queries and judgment tools read es-ltrr's traffic.

Field names follow OpenSearch's UBI schemas: a query is `application`, `query_id` (the
impression id), `client_id`, `user_query`, `timestamp`, `object_id_field`,
`query_response_id`, `query_response_hit_ids` (the page) and `query_attributes` (es-ltrr's
decision: policy, allocations, propensities; the understood intent); an event is
`application`, `action_name`, `query_id`, `client_id`, `session_id`, `timestamp`,
`message_type`, `message` and `event_attributes` (`object.object_id`, `object.object_id_field`,
`position.ordinal`, `dwell_ms`) plus `event_id`, the idempotency key, used as the document
id so a re-sent batch overwrites rather than duplicates.

The SQLite log stays the source of truth (acknowledgement waits for it, not for the cluster);
the mirror is written in batches from the fold thread and on exit, and a failed batch is
kept and retried (up to `MAX_PENDING` documents, then the oldest are dropped and counted).

The indices are created with `auto_expand_replicas: 0-1` (`INDEX_SETTINGS`): no replica on a
single node, whose health stays green, one as soon as there are two nodes. Indices an older
es-ltrr created with the default single replica (and no auto-expansion) are switched to it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from ..retrieval.engines.base import EngineError
from .events import Event
from .impression import Impression

log = logging.getLogger(__name__)

UBI_QUERIES, UBI_EVENTS = "ubi_queries", "ubi_events"
#: Replicas a single node can hold (0), one more node gets one: keeps a one-node cluster green.
INDEX_SETTINGS = {"index": {"auto_expand_replicas": "0-1"}}
#: Documents waiting for the cluster at most; beyond, the oldest are dropped (and counted).
MAX_PENDING = 100_000

_KEYWORD = {"type": "keyword"}
QUERIES_MAPPING = {"properties": {
    "application": _KEYWORD, "query_id": _KEYWORD, "client_id": _KEYWORD, "session_id": _KEYWORD,
    "user_query": _KEYWORD, "object_id_field": _KEYWORD, "query_response_id": _KEYWORD, "query_response_hit_ids": _KEYWORD,
    "timestamp": {"type": "date"}, "query_attributes": {"type": "object", "enabled": False},
}}
#: es-ltrr's own fields beside UBI's: the whole impression / event as logged (stored, not
#: indexed) and the server time an event was logged, the order replicas pull in.
_OWN = {"es_ltrr_record": {"type": "object", "enabled": False}, "es_ltrr_received_at": {"type": "double"}}
QUERIES_MAPPING["properties"].update(_OWN)
EVENTS_MAPPING = {"properties": {
    "application": _KEYWORD, "action_name": _KEYWORD, "query_id": _KEYWORD, "client_id": _KEYWORD,
    "session_id": _KEYWORD, "event_id": _KEYWORD, "message_type": _KEYWORD, "message": {"type": "text"},
    "timestamp": {"type": "date"},
    "event_attributes": {"properties": {
        "object": {"properties": {"object_id": _KEYWORD, "object_id_field": _KEYWORD}},
        "position": {"properties": {"ordinal": {"type": "integer"}}},
        "dwell_ms": {"type": "float"},
    }},
    **_OWN,
}}


def query_doc(impression: Impression, application: str) -> dict[str, Any]:
    d = impression.decision
    return {
        "application": application, "query_id": impression.id,
        "client_id": _client(impression), "user_query": impression.query,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(impression.served_at)) + "Z",
        "object_id_field": "id", "query_response_id": impression.id,
        "query_response_hit_ids": list(impression.page),
        "query_attributes": {"normalized": impression.normalized, "policy": d.policy,
                             "allocations": d.allocations, "propensities": d.propensities,
                             "intent": impression.understanding.get("intent")},
        **({"session_id": impression.session_id} if impression.session_id is not None else {}),
        "es_ltrr_record": {"impression": impression.to_json()},
    }


def event_doc(event: Event, application: str, received_at: float) -> dict[str, Any]:
    sent = json.loads(event.body)
    attributes: dict[str, Any] = {"object": {"object_id": event.object_id, "object_id_field": event.object_id_field}}
    if event.position is not None:
        attributes["position"] = {"ordinal": event.position}
    if event.dwell_ms is not None:
        attributes["dwell_ms"] = event.dwell_ms
    return {
        "application": sent.get("application") or application, "action_name": event.action_name,
        "query_id": event.query_id, "client_id": event.client_id, "session_id": event.session_id,
        "event_id": event.key, "timestamp": event.timestamp, "message_type": sent.get("message_type"),
        "message": sent.get("message"), "event_attributes": attributes,
        "es_ltrr_record": {"event": event.body}, "es_ltrr_received_at": received_at,
    }


def _client(impression: Impression) -> str | None:
    """The request's UBI `client_id`, or (before it was a field of its own) the context's."""
    if impression.client_id is not None:
        return impression.client_id
    value = impression.context.request_context.get("client_id")
    return value if isinstance(value, str) else None


class UbiMirror:
    """Buffers UBI documents and writes them to the cluster in `_bulk` batches."""

    def __init__(self, engine: Any, application: str = "es-ltrr"):
        self.engine, self.application = engine, application
        self._pending: list[tuple[str, str, dict]] = []  # (index, id, doc)
        self._lock = threading.Lock()
        self.dropped = 0
        self._ensured = False
        self._failing = False  # the last flush failed: said once, not per flush

    def add_query(self, impression: Impression) -> None:
        self._add(UBI_QUERIES, impression.id, query_doc(impression, self.application))

    def add_events(self, events: list[Event], received_at: float) -> None:
        for event in events:
            self._add(UBI_EVENTS, event.key, event_doc(event, self.application, received_at))

    def _add(self, index: str, doc_id: str, doc: dict) -> None:
        with self._lock:
            self._pending.append((index, doc_id, doc))
            if len(self._pending) > MAX_PENDING:
                drop = len(self._pending) - MAX_PENDING
                del self._pending[:drop]
                self.dropped += drop

    def flush(self, raise_errors: bool = False) -> int:
        """Write what is pending; on a cluster error keep it for the next flush. How many were
        written. The error is raised with `raise_errors` (the fold thread logs it once per
        outage), else logged, once until a flush succeeds again."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            self._ensure_indices()
            lines = []
            for index, doc_id, doc in batch:
                lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
                lines.append(json.dumps(doc, ensure_ascii=False))
            self.engine._bulk(lines, None, params={"refresh": "false"})
        except EngineError as exc:
            with self._lock:
                self._pending[:0] = batch
            if raise_errors:
                self._failing = True
                raise
            if not self._failing:
                log.warning("UBI mirror: %d documents not written yet (kept, retried): %s", len(batch), exc)
            self._failing = True
            return 0
        self._failing = False
        return len(batch)

    def _ensure_indices(self) -> None:
        if self._ensured:
            return
        for index, mapping in ((UBI_QUERIES, QUERIES_MAPPING), (UBI_EVENTS, EVENTS_MAPPING)):
            if self.engine.request("HEAD", f"/{index}") is not True:  # HEAD: no 400 logged when it exists
                try:
                    self.engine.request("PUT", f"/{index}", {"settings": INDEX_SETTINGS, "mappings": mapping})
                    continue
                except EngineError as exc:  # created meanwhile, by another replica or the UBI plugin
                    if "already_exists" not in str(exc) and "already exists" not in str(exc):
                        raise
            try:  # an index made by the UBI plugin: add es-ltrr's own fields
                self.engine.request("PUT", f"/{index}/_mapping", {"properties": _OWN})
            except EngineError as conflict:
                log.warning("UBI index %s keeps its mapping of es-ltrr's fields: %s", index, conflict)
            self._expand_replicas(index)
        self._ensured = True

    def _expand_replicas(self, index: str) -> None:
        """An index with the default single replica and no auto-expansion (an older es-ltrr's,
        yellow on one node) gets `INDEX_SETTINGS`; replicas set otherwise are left alone."""
        settings = self.engine.request("GET", f"/{index}/_settings")
        current = next(iter(settings.values()), {}).get("settings", {}).get("index", {})
        if str(current.get("number_of_replicas")) == "1" and current.get("auto_expand_replicas") in (None, "false"):
            self.engine.request("PUT", f"/{index}/_settings", INDEX_SETTINGS)
            log.warning("UBI index %s: replicas now expand 0-1 (a single node holds none, so it stays green)", index)


class UbiSync:
    """Pulls the events other replicas mirrored (and the impressions they answer) into the
    local log, so replicas on several machines fold one shared history.

    Pulls `ubi_events` documents es-ltrr wrote, in `es_ltrr_received_at` order, from a cursor
    that starts `SLACK_S` before the newest event already in the local log (documents become
    searchable a refresh interval after they are written); what the log holds is skipped by
    its idempotency key. Events whose impression cannot be found are retried next time.
    """

    SLACK_S = 30.0
    PAGE = 500

    def __init__(self, engine: Any, weights: Any):
        self.engine, self.weights = engine, weights
        self.cursor: float | None = None
        self._exists = False  # ubi_events seen: until then each pull only asks (HEAD, no 404 logged)

    def pull(self, store: Any) -> int:
        """Copy new mirrored events into `store`; how many were new."""
        from .events import EventError, parse_event

        if not self._exists:
            if self.engine.request("HEAD", f"/{UBI_EVENTS}") is not True:
                return 0
            self._exists = True
        if self.cursor is None:
            self.cursor = max(store.newest_received_at() - self.SLACK_S, 0.0)
        added, after = 0, None
        while True:
            body: dict[str, Any] = {"size": self.PAGE, "sort": [{"es_ltrr_received_at": "asc"}, {"event_id": "asc"}],
                                    "query": {"range": {"es_ltrr_received_at": {"gte": self.cursor}}},
                                    "_source": ["query_id", "es_ltrr_record", "es_ltrr_received_at"]}
            if after is not None:
                body["search_after"] = after
            try:
                hits = self.engine.request("POST", f"/{UBI_EVENTS}/_search", body)["hits"]["hits"]
            except EngineError as exc:
                if "index_not_found" in str(exc) or "no such index" in str(exc):
                    return added
                raise
            if not hits:
                break
            rows = []
            for hit in hits:
                source = hit["_source"]
                try:
                    rows.append((parse_event(json.loads(source["es_ltrr_record"]["event"]), self.weights),
                                 float(source["es_ltrr_received_at"])))
                except (KeyError, TypeError, ValueError, EventError):
                    continue  # not an event es-ltrr logged, or an action this replica does not weigh
            self._fetch_impressions(store, {event.query_id for event, _ in rows})
            known = store.known_impressions(sorted({event.query_id for event, _ in rows}))
            fresh = [(event, at) for event, at in rows if event.query_id in known]
            added += len(store.import_events(fresh))
            after = hits[-1]["sort"]
        if added:
            self.cursor = max(store.newest_received_at() - self.SLACK_S, self.cursor)
        return added

    def _fetch_impressions(self, store: Any, ids: set[str]) -> None:
        missing = sorted(ids - store.known_impressions(sorted(ids)))
        if not missing:
            return
        body = {"size": len(missing), "query": {"terms": {"query_id": missing}}, "_source": ["es_ltrr_record"]}
        for hit in self.engine.request("POST", f"/{UBI_QUERIES}/_search", body)["hits"]["hits"]:
            record = (hit["_source"].get("es_ltrr_record") or {}).get("impression")
            if record:
                store.add_impression(Impression.from_json(record))


def ubi_sessions(engine: Any, weights: Any, page_size: int = 1000) -> list[tuple[str, list[str], set[str]]]:
    """(normalized query, page ids, engaged ids) per query in the cluster's UBI indices — from
    any UBI producer (es-ltrr, the OpenSearch UBI plugin, a JavaScript collector): queries'
    `user_query` and `query_response_hit_ids`, events' `query_id`, `action_name` (weighted
    by `weights`, > 0 engages) and `event_attributes.object.object_id`."""
    from ..common.analysis import normalize_query

    engaged: dict[str, set[str]] = {}
    for source in _scan(engine, UBI_EVENTS, ["query_id", "action_name", "event_attributes"], page_size):
        obj = ((source.get("event_attributes") or {}).get("object") or {}).get("object_id")
        if obj and weights.get(source.get("action_name"), 0) > 0 and source.get("query_id"):
            engaged.setdefault(source["query_id"], set()).add(str(obj))
    out = []
    for source in _scan(engine, UBI_QUERIES, ["query_id", "user_query", "query_response_hit_ids"], page_size):
        hits = source.get("query_response_hit_ids") or []
        if source.get("user_query") and hits:
            out.append((normalize_query(source["user_query"]), [str(h) for h in hits],
                        engaged.get(source.get("query_id"), set())))
    return out


def _scan(engine: Any, index: str, fields: list[str], page_size: int):
    """Every document's `_source` fields, in `_doc` order with search_after (no scroll context)."""
    if engine.request("HEAD", f"/{index}") is not True:  # HEAD: a missing index logs no 404
        return
    after = None
    while True:
        body: dict[str, Any] = {"size": page_size, "sort": ["_doc"], "_source": fields}
        if after is not None:
            body["search_after"] = after
        try:
            hits = engine.request("POST", f"/{index}/_search", body)["hits"]["hits"]
        except EngineError as exc:
            if "index_not_found" in str(exc) or "no such index" in str(exc):
                return
            raise
        if not hits:
            return
        for hit in hits:
            yield hit["_source"]
        after = hits[-1]["sort"]
