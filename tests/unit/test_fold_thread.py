"""The server's fold thread through a cluster outage (issue 23, item 3): while the node was
down for ~40 s, `serve` logged 83 full tracebacks ("folding the feedback log failed … circuit
open"), and since the UBI sync raised first, each round's local fold and Q2E memory update
were skipped too. Now: one warning when the cluster mirror starts failing, one when it
recovers, no traceback, and the local fold and the memory update go on meanwhile."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import pytest

from es_ltrr.feedback import FeedbackLoop, FeedbackStore
from es_ltrr.feedback.events import DEFAULT_WEIGHTS, parse_event
from es_ltrr.feedback.ubi import UbiMirror, UbiSync
from es_ltrr.retrieval.engines.cluster import ClusterError
from es_ltrr.retrieval.policy import ThompsonPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.process import start_folding


class Cluster:
    """A stand-in cluster for the UBI mirror and sync that can be taken down and brought back."""

    def __init__(self) -> None:
        self.down = False

    def request(self, method: str, path: str, body=None, params=None, timeout_s=None):
        if self.down:
            raise ClusterError(f"{method} {path} not sent: circuit open after repeated failures (retrying every 10 s)",
                               503)
        if method == "HEAD":
            return True
        if path.endswith("/_settings") and method == "GET":
            return {"x": {"settings": {"index": {"auto_expand_replicas": "0-1"}}}}
        if path.endswith("/_search"):
            return {"hits": {"hits": []}}
        return {"acknowledged": True}

    def _bulk(self, lines, progress, params=None) -> None:
        self.request("POST", "/_bulk")


@dataclass
class Memory:
    """Records what the loop asks the Q2E memory to learn (its own index is up)."""

    learned: list[set] = field(default_factory=list)

    def learn(self, pairs) -> int:
        self.learned.append(set(pairs))
        return len(pairs)


def _wait(check, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def served(small_searcher, tmp_path):
    searcher = replace(small_searcher, policy=ThompsonPolicy(seed=1, burn_in=2))
    cluster, memory = Cluster(), Memory()
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    loop = FeedbackLoop(store, searcher.policy, memory=memory, mirror=UbiMirror(cluster),
                        sync=UbiSync(cluster, DEFAULT_WEIGHTS))
    results = [searcher.search(parse_search_request({"query": q})) for q in ("memories maroon 5", "rock", "love")]
    for result in results:
        loop.log_search(result)
    return loop, cluster, memory, results, tmp_path / "feedback.sqlite3"


def test_an_outage_is_one_warning_and_local_learning_goes_on(served, caplog):
    loop, cluster, memory, results, path = served
    other = FeedbackStore(path)  # another process sharing the log: its events reach this one by the fold
    caplog.set_level(logging.DEBUG)
    cluster.down = True
    stop = start_folding(loop, 0.02, memory_interval_s=0.05)
    try:
        for i, result in enumerate(results):
            other.add_events([parse_event({"query_id": result.impression_id, "action_name": "play",
                                           "object_id": result.ids[0], "event_id": f"e{i}"})])
        _wait(lambda: loop.policy.n_updates_ == 3)  # folded while the cluster is down
        _wait(lambda: any(memory.learned))  # and the memory relearned
        assert {p for pairs in memory.learned for p in pairs} == {(r.request.query, r.ids[0]) for r in results}
        time.sleep(0.5)  # many more folds, all failing to reach the cluster
        cluster.down = False
        _wait(lambda: any("recovered" in r.getMessage() for r in caplog.records))
        time.sleep(0.2)
    finally:
        stop.set()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r for r in warnings if r.exc_info] == []  # no traceback
    failing = [r.getMessage() for r in warnings if "UBI" in r.getMessage() and "recovered" not in r.getMessage()]
    recovered = [r.getMessage() for r in warnings if "recovered" in r.getMessage()]
    assert len(failing) == 1 and "circuit open" in failing[0] and "local" in failing[0], [w.getMessage() for w in warnings]
    assert len(recovered) == 1, [w.getMessage() for w in warnings]
    assert len(warnings) == 2, [w.getMessage() for w in warnings]


def test_memory_pairs_a_failed_update_could_not_write_are_kept_for_the_next(served):
    loop, cluster, memory, results, _ = served

    class Failing(Memory):
        def learn(self, pairs) -> int:
            raise ClusterError("POST /_bulk failed: circuit open", 503)

    loop.memory = Failing()
    loop.ingest({"query_id": results[0].impression_id, "action_name": "play", "object_id": results[0].ids[0]})
    with pytest.raises(ClusterError):
        loop.learn_memory()
    loop.memory = memory
    assert loop.learn_memory() == 1 and memory.learned == [{(results[0].request.query, results[0].ids[0])}]
