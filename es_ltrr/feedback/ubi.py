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
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from ..engines.base import EngineError
from .events import Event
from .impression import Impression

log = logging.getLogger(__name__)

UBI_QUERIES, UBI_EVENTS = "ubi_queries", "ubi_events"
#: Documents waiting for the cluster at most; beyond, the oldest are dropped (and counted).
MAX_PENDING = 100_000

_KEYWORD = {"type": "keyword"}
QUERIES_MAPPING = {"properties": {
    "application": _KEYWORD, "query_id": _KEYWORD, "client_id": _KEYWORD, "user_query": _KEYWORD,
    "object_id_field": _KEYWORD, "query_response_id": _KEYWORD, "query_response_hit_ids": _KEYWORD,
    "timestamp": {"type": "date"}, "query_attributes": {"type": "object", "enabled": False},
}}
EVENTS_MAPPING = {"properties": {
    "application": _KEYWORD, "action_name": _KEYWORD, "query_id": _KEYWORD, "client_id": _KEYWORD,
    "session_id": _KEYWORD, "event_id": _KEYWORD, "message_type": _KEYWORD, "message": {"type": "text"},
    "timestamp": {"type": "date"},
    "event_attributes": {"properties": {
        "object": {"properties": {"object_id": _KEYWORD, "object_id_field": _KEYWORD}},
        "position": {"properties": {"ordinal": {"type": "integer"}}},
        "dwell_ms": {"type": "float"},
    }},
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
    }


def event_doc(event: Event, application: str) -> dict[str, Any]:
    sent = json.loads(event.body)
    attributes: dict[str, Any] = {"object": {"object_id": event.object_id, "object_id_field": event.object_id_field}}
    if event.position is not None:
        attributes["position"] = {"ordinal": event.position}
    if event.dwell_ms is not None:
        attributes["dwell_ms"] = event.dwell_ms
    return {
        "application": sent.get("application") or application, "action_name": event.action_name,
        "query_id": event.query_id, "client_id": event.client_id, "session_id": sent.get("session_id"),
        "event_id": event.key, "timestamp": event.timestamp, "message_type": sent.get("message_type"),
        "message": sent.get("message"), "event_attributes": attributes,
    }


def _client(impression: Impression) -> str | None:
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

    def add_query(self, impression: Impression) -> None:
        self._add(UBI_QUERIES, impression.id, query_doc(impression, self.application))

    def add_events(self, events: list[Event]) -> None:
        for event in events:
            self._add(UBI_EVENTS, event.key, event_doc(event, self.application))

    def _add(self, index: str, doc_id: str, doc: dict) -> None:
        with self._lock:
            self._pending.append((index, doc_id, doc))
            if len(self._pending) > MAX_PENDING:
                drop = len(self._pending) - MAX_PENDING
                del self._pending[:drop]
                self.dropped += drop

    def flush(self) -> int:
        """Write what is pending; on a cluster error keep it for the next flush. How many were written."""
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
            log.warning("UBI mirror: %d documents not written yet: %s", len(batch), exc)
            with self._lock:
                self._pending[:0] = batch
            return 0
        return len(batch)

    def _ensure_indices(self) -> None:
        if self._ensured:
            return
        for index, mapping in ((UBI_QUERIES, QUERIES_MAPPING), (UBI_EVENTS, EVENTS_MAPPING)):
            try:
                self.engine.request("PUT", f"/{index}", {"mappings": mapping})
            except EngineError as exc:  # created before, by us, another replica or the UBI plugin
                if "already_exists" not in str(exc) and "already exists" not in str(exc):
                    raise
        self._ensured = True
