"""The UBI mirror and sync against a recording stand-in for a cluster: the indices they create
keep a single node green, and a start before any event asks nothing that answers 404 (issue
23, items 8 and 12)."""

from __future__ import annotations

from typing import Any

from es_ltrr.feedback.events import DEFAULT_WEIGHTS
from es_ltrr.feedback.store import FeedbackStore
from es_ltrr.feedback.ubi import UBI_EVENTS, UBI_QUERIES, UbiMirror, UbiSync
from es_ltrr.retrieval.engines.cluster import ClusterError


class Recording:
    """Answers like a cluster holding `indices` (name -> settings), recording every call."""

    def __init__(self, indices: dict[str, dict[str, Any]] | None = None):
        self.indices = dict(indices or {})
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None, timeout_s=None) -> Any:
        self.calls.append((method, path, body))
        name = path.strip("/").split("/")[0]
        if method == "HEAD":
            return name in self.indices
        if method == "PUT" and path == f"/{name}":
            if name in self.indices:
                raise ClusterError(f"PUT {path} failed: resource_already_exists_exception", 400)
            self.indices[name] = dict((body or {}).get("settings", {}).get("index", {}))
            return {"acknowledged": True}
        if method == "GET" and path.endswith("/_settings"):
            return {name: {"settings": {"index": self.indices[name]}}}
        if method == "PUT" and path.endswith("/_settings"):
            self.indices[name].update(body["index"])
            return {"acknowledged": True}
        if name not in self.indices:
            raise ClusterError(f"{method} {path} failed: index_not_found_exception: no such index [{name}]", 404)
        if path.endswith("/_search"):
            return {"hits": {"hits": []}}
        return {"acknowledged": True}

    def _bulk(self, lines, progress, params=None) -> None:
        self.calls.append(("POST", "/_bulk", None))


def _mirror_one(engine) -> None:
    from es_ltrr.feedback.events import parse_event

    mirror = UbiMirror(engine)
    mirror.add_events([parse_event({"query_id": "q", "action_name": "play", "object_id": "t"})], 1.0)
    assert mirror.flush() == 1


def test_the_ubi_indices_are_created_with_replicas_a_single_node_can_hold():
    engine = Recording()
    _mirror_one(engine)
    created = {path: body for method, path, body in engine.calls if method == "PUT" and body and "mappings" in body}
    assert set(created) == {f"/{UBI_QUERIES}", f"/{UBI_EVENTS}"}
    for body in created.values():
        assert body["settings"] == {"index": {"auto_expand_replicas": "0-1"}}  # 0 replicas on one node, 1 on more


def test_ubi_indices_an_older_es_ltrr_made_with_one_replica_are_healed():
    engine = Recording({UBI_QUERIES: {"number_of_replicas": "1"}, UBI_EVENTS: {"number_of_replicas": "1"}})
    _mirror_one(engine)
    assert engine.indices[UBI_QUERIES]["auto_expand_replicas"] == "0-1"
    assert engine.indices[UBI_EVENTS]["auto_expand_replicas"] == "0-1"
    assert not [c for c in engine.calls if c[0] == "PUT" and c[1] in (f"/{UBI_QUERIES}", f"/{UBI_EVENTS}")]


def test_replicas_set_on_purpose_are_left_alone():
    engine = Recording({UBI_QUERIES: {"number_of_replicas": "2"},
                        UBI_EVENTS: {"number_of_replicas": "1", "auto_expand_replicas": "0-all"}})
    _mirror_one(engine)
    assert engine.indices[UBI_QUERIES] == {"number_of_replicas": "2"}
    assert engine.indices[UBI_EVENTS] == {"number_of_replicas": "1", "auto_expand_replicas": "0-all"}


def test_a_sync_before_the_ubi_indices_exist_searches_nothing(tmp_path):
    """At start `ubi_events/_search` answered 404 and the client logged a warning: the sync now
    asks whether the index exists (HEAD, which logs no 404) and searches once it does."""
    engine = Recording()
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    sync = UbiSync(engine, DEFAULT_WEIGHTS)
    assert sync.pull(store) == 0
    assert [c[:2] for c in engine.calls] == [("HEAD", f"/{UBI_EVENTS}")]
    engine.indices[UBI_EVENTS] = {}
    assert sync.pull(store) == 0
    assert ("POST", f"/{UBI_EVENTS}/_search") in [c[:2] for c in engine.calls]
    engine.calls.clear()
    sync.pull(store)
    assert ("HEAD", f"/{UBI_EVENTS}") not in [c[:2] for c in engine.calls]  # asked once, until it exists
