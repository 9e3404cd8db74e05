"""Faults on a real OpenSearch node (issue 15; the fault table is in docs/reliability.md).

The faults that stop, freeze or overload a node run on a node of this module's own: a copy
of the assembled test distribution on a free port with a 256 MB heap (`es_ltrr.ops.devnode.scratch`),
started once here, killed and deleted at the end. The shared test nodes are never touched. Each test asserts what a client
sees: status codes, the `partial`/`timed_out` flags, time bounds from the configured budget
(`arm_timeout_ms`, never a benchmark), the circuit breaker opening and closing, and service
resuming without any help.
"""

from __future__ import annotations

import resource
import shutil
import signal
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from es_ltrr.common.schema import MUSIC
from es_ltrr.common.settings import Settings
from es_ltrr.ops.apply import apply
from es_ltrr.ops.devnode import lifecycle
from es_ltrr.ops.devnode.host import node_pid, signal_group
from es_ltrr.ops.devnode.scratch import kill, scratch_node
from es_ltrr.ranking.ltr import default_featureset
from es_ltrr.retrieval.arms import ARMS, Arm
from es_ltrr.retrieval.engines.cluster import CircuitBreaker
from es_ltrr.retrieval.policy import StaticPolicy
from es_ltrr.serving.contract import parse_search_request
from es_ltrr.serving.http import create_app

from ..servers import Server, free_port, post_json
from ..sigkill import assert_restart_replays_the_log, kill_during_traffic

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: The per-arm budget of this module's searcher (ms): small, so the faults run fast.
ARM_BUDGET_MS = 500
#: What a page may take beyond its bound on a loaded 2-core machine (not a benchmark).
SLACK_S = 2.0
QUERIES = ["love", "ed sheeran", "dance pop", "memories", "summer"]


@pytest.fixture(scope="module")
def own_node(cluster_url):
    """A node of this module's own, from the assembled distribution the shared node runs."""
    with scratch_node() as config:
        yield config


@pytest.fixture(scope="module")
def own_settings(own_node, small_catalog, tmp_path_factory) -> Settings:
    return Settings.load(env={}, cluster_url=own_node.url, flavor="opensearch", index=f"es-ltrr-faults-{uuid.uuid4().hex[:8]}",
                         catalog=small_catalog, data_dir=tmp_path_factory.mktemp("faults-data"), embed=False,
                         arm_timeout_ms=ARM_BUDGET_MS)


@pytest.fixture(scope="module")
def own_searcher(own_settings):
    """The small catalog on the module's node, served with a quick breaker (3 failures, 1 s)."""
    from es_ltrr.retrieval.engines.factory import cluster_engine
    from es_ltrr.retrieval.indexing import build_index
    from es_ltrr.serving.wiring import build_searcher

    apply(cluster_engine(own_settings), MUSIC, [default_featureset()], ltr=False, say=lambda _: None)
    build_index(own_settings, None, say=lambda _: None)
    searcher = build_searcher(own_settings, say=lambda _: None)
    searcher.engine.breaker = CircuitBreaker(threshold=3, cooldown_s=1.0)
    return searcher


@dataclass
class Answer:
    status: int
    elapsed_s: float
    body: dict
    breaker_open: bool


class Load(threading.Thread):
    """Searches through the HTTP app one after another until stopped, recording every answer."""

    def __init__(self, client, engine):
        super().__init__(daemon=True)
        self.client, self.engine = client, engine
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            start = time.monotonic()
            response = self.client.post("/search", json={"query": QUERIES[i % len(QUERIES)]})
            self.answers.append(Answer(response.status_code, time.monotonic() - start, response.get_json(),
                                       self.engine.breaker.is_open))
            i += 1

    def wait_for(self, what: str, check, timeout_s: float = 60) -> Answer:
        """The first answer from now on that passes `check`."""
        seen, deadline = len(self.answers), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for answer in self.answers[seen:]:
                if check(answer):
                    return answer
            seen = len(self.answers)
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout_s} s; last: {self.answers[-1:]}")


def _served(answer: Answer) -> bool:
    return answer.status == 200 and bool(answer.body["hits"]) and not answer.body["partial"]


def _refused(answer: Answer) -> bool:
    return answer.status == 503


def test_a_frozen_then_killed_node_degrades_within_budget_and_service_resumes(own_node, own_searcher):
    """SIGSTOP (a hung node: connections accepted, nothing answered), SIGCONT, then SIGKILL
    and a restart, all under a steady search load: every answer is a page or a 503 with a
    clear body, none waits past twice the deadline, the breaker opens and closes, and service
    comes back without a restart of the sidecar."""
    engine = own_searcher.engine
    client = create_app(own_searcher).test_client()
    bound_s = 2 * engine.search_deadline_s + SLACK_S
    load = Load(client, engine)
    load.start()
    try:
        load.wait_for("served page", _served)
        pid = node_pid(own_node)
        signal_group(pid, signal.SIGSTOP)
        try:
            load.wait_for("503 while frozen", _refused, timeout_s=30)
            load.wait_for("open circuit", lambda a: a.breaker_open, timeout_s=30)
            health = client.get("/healthz")
            assert health.status_code == 503 and health.get_json()["status"] == "degraded"
        finally:
            signal_group(pid, signal.SIGCONT)
        load.wait_for("served page after SIGCONT", _served, timeout_s=30)

        assert kill(own_node)
        load.wait_for("503 while down", _refused, timeout_s=30)
        load.wait_for("open circuit while down", lambda a: a.breaker_open, timeout_s=30)
        lifecycle.start(own_node, progress=lambda _: None, timeout_s=180)  # same data: the index survives
        load.wait_for("served page after the restart", _served, timeout_s=90)
    finally:
        load.stopping.set()
        load.join(timeout=30)
    answers = load.answers
    assert {a.status for a in answers} <= {200, 503}, sorted({a.status for a in answers})
    for a in answers:
        if a.status == 503:
            assert a.body["error"]["message"].startswith("search unavailable: no arm could search"), a.body
            assert all(arm["error"] for arm in a.body["error"]["arms"])
        elif not a.body["hits"]:
            assert a.body["partial"] is True, a.body  # an empty page is flagged, never silent
    assert max(a.elapsed_s for a in answers) < bound_s, sorted(a.elapsed_s for a in answers)[-5:]
    assert not engine.breaker.is_open and client.get("/healthz").status_code == 200


@dataclass(frozen=True)
class FaultyArm(Arm):
    """An arm whose search is a fault: `body` is what it sends, whatever the query."""

    body: dict = None  # type: ignore[assignment]

    def render(self, inp, size, flavor="embedded") -> dict[str, Any] | None:
        return {"size": size, **self.body}


#: A script the node cannot stop at its `timeout`: on a segment of fewer than 1,024 documents
#: the check never runs during scoring (quadratic string building, seconds for the catalog).
SLOW_BODY = {"query": {"script_score": {"query": {"match_all": {}}, "script": {
    "source": "String s = ''; for (int i = 0; i < params.n; ++i) { s += 'a'; } return s.length();",
    "params": {"n": 12000}}}}}
FAILING_BODY = {"query": {"no_such_clause": {}}}


@pytest.mark.parametrize("fault, body", [("slow", SLOW_BODY), ("failing", FAILING_BODY)], ids=["slow", "failing"])
def test_a_slow_or_failing_arm_costs_only_its_own_hits(own_searcher, fault, body):
    explore = ARMS["explore"]
    faulty = FaultyArm(explore.name, explore.family, explore.build_params, explore.default_depth, body=body)
    searcher = replace(own_searcher, arms={**own_searcher.arms, "explore": faulty}, policy=StaticPolicy())
    start = time.monotonic()
    response = create_app(searcher).test_client().post("/search", json={"query": "love"})
    elapsed = time.monotonic() - start
    assert response.status_code == 200
    page = response.get_json()
    arms = {a["arm"]: a for a in page["arms"]}
    assert arms["explore"]["status"] == "error" and page["partial"] is True
    assert page["hits"] and all(h["arms"] for h in page["hits"])
    assert all(a["status"] == "ok" for name, a in arms.items() if name != "explore" and a["status"] != "not_applicable")
    assert not any(p["arm"] == "explore" for h in page["hits"] for p in h["arms"])
    if fault == "slow":
        assert arms["explore"]["timed_out"] is True
        assert elapsed < 2 * own_searcher.engine.search_deadline_s + SLACK_S, elapsed
    else:
        assert "no_such_clause" in arms["explore"]["error"]
    assert not own_searcher.engine.breaker.is_open  # one bad arm is not a dead cluster


def test_a_direct_search_after_a_slow_arm_is_whole_again(own_searcher):
    """The slow arm's work left on the node does not spill into the next page."""
    result = replace(own_searcher, policy=StaticPolicy()).search(parse_search_request({"query": "ed sheeran"}))
    assert result.hits and not result.partial, result.arm_results


@pytest.fixture
def serve_base(own_settings, own_searcher, tmp_path) -> tuple[list[str], Path]:
    """`es-ltrr` against the module's node with a copy of its data dir (gazetteer, manifest)."""
    data = tmp_path / "data"
    shutil.copytree(own_settings.data_dir, data)
    return [sys.executable, "-m", "es_ltrr.cli", "--cluster", own_settings.cluster_url, "--flavor", "opensearch",
            "--index", own_settings.index, "--catalog", str(own_settings.catalog), "--data-dir", str(data),
            "--no-embed"], data


def test_sigkill_of_the_sidecar_on_a_node_loses_nothing_acknowledged(serve_base):
    after = kill_during_traffic(*serve_base)
    lost = set(after.acknowledged) - after.logged
    assert len(after.acknowledged) >= 50 and not lost, f"{len(lost)} of {len(after.acknowledged)} acknowledged lost"
    assert len(after.served) >= 10 and set(after.served) <= after.impressions, "served impressions lost"
    assert_restart_replays_the_log(*serve_base, after)


def test_a_full_disk_refuses_feedback_with_503_and_keeps_serving_searches(serve_base):
    """The sidecar's files may not grow (RLIMIT_FSIZE 0 on the running process: every write
    fails as on a full disk): /feedback answers 503 and acknowledges nothing, /search still
    serves; once the disk has room the refused event is accepted as new, not a duplicate."""
    base, data = serve_base
    server = Server(base, free_port())
    try:
        status, page = post_json(f"{server.url}/search", {"query": "love"})
        assert status == 200 and page["hits"]
        event = {"query_id": page["impression_id"], "action_name": "play", "object_id": page["hits"][0]["id"]}
        assert post_json(f"{server.url}/feedback", {**event, "event_id": "before"})[0] == 200
        _, hard = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (0, hard))
        try:
            status, body = post_json(f"{server.url}/feedback", {**event, "event_id": "while-full"})
            assert status == 503 and "nothing was acknowledged" in body["error"]["message"]
            status, body = post_json(f"{server.url}/feedback", [{**event, "event_id": "batch-while-full"}])
            assert status == 503
            status, searched = post_json(f"{server.url}/search", {"query": "ed sheeran"})
            assert status == 200 and searched["hits"]
        finally:
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
        status, report = post_json(f"{server.url}/feedback", {**event, "event_id": "while-full"})
        assert status == 200 and report["accepted"] == 1 and report["duplicates"] == 0
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
    log = sqlite3.connect(data / "logs" / "feedback.sqlite3")
    keys = [row[0] for row in log.execute("SELECT event_key FROM events ORDER BY seq")]
    assert keys == ["before", "while-full"]
