"""kill -9 of a serving sidecar while searches and feedback are in flight, then a restart: one
scenario, run against the embedded engine (tests/e2e/test_feedback_kill.py) and against a
real OpenSearch node (tests/integration/test_faults.py).

It exists so that the two tiers run the same scenario without one test module importing the
other. `kill_during_traffic` returns what the server acknowledged and what its log holds, for
each test to assert that nothing acknowledged was lost; `assert_restart_replays_the_log` then
checks the restart (a retry counts as duplicates only, the saved state equals a replay).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .servers import Server, free_port, post_json


@dataclass(frozen=True)
class Aftermath:
    """What the killed server answered before it died, and what its log held just after."""

    pages: list[dict]  # the search pages the events were sent for
    acknowledged: list[str]  # event ids answered 200 (in order)
    served: list[str]  # impression ids of the searches answered 200
    logged: set[str]  # event keys in the feedback log
    impressions: set[str]  # impression ids in the feedback log


def kill_during_traffic(base: list[str], data: Path) -> Aftermath:
    """`es-ltrr serve` (`base` + serve, on the data dir `data`) SIGKILLed once it has
    acknowledged 50 events and served 10 searches, with both still in flight; what it answered
    and what its log holds right after (nothing is asserted about the two here)."""
    server = Server(base, free_port())
    pages = [post_json(f"{server.url}/search", {"query": q})[1] for q in ("rock", "memories", "happy songs", "love")]
    acknowledged: list[str] = []
    served: list[str] = []

    def post_until_killed() -> None:
        for i in range(100_000):
            page = pages[i % len(pages)]
            event = {"query_id": page["impression_id"], "action_name": "play",
                     "object_id": page["hits"][i % len(page["hits"])]["id"], "event_id": f"ev-{i}"}
            try:
                status, _ = post_json(f"{server.url}/feedback", event)
            except (OSError, http.client.HTTPException):  # a cut answer was never acknowledged
                return  # the server is gone
            assert status == 200
            acknowledged.append(event["event_id"])

    def search_until_killed() -> None:
        for i in range(100_000):
            try:
                status, body = post_json(f"{server.url}/search", {"query": ("dance", "summer", "ed sheeran")[i % 3]})
            except (OSError, http.client.HTTPException):
                return
            assert status == 200
            served.append(body["impression_id"])

    threads = [threading.Thread(target=post_until_killed), threading.Thread(target=search_until_killed)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 50 or len(served) < 10:
        assert all(t.is_alive() for t in threads) and time.monotonic() < deadline, \
            f"only {len(acknowledged)} events acknowledged, {len(served)} searches served"
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=30)
    server.process.wait(timeout=30)

    log = sqlite3.connect(data / "logs" / "feedback.sqlite3")
    logged = {row[0] for row in log.execute("SELECT event_key FROM events")}
    impressions = {row[0] for row in log.execute("SELECT id FROM impressions")}
    log.close()
    return Aftermath(pages, list(acknowledged), list(served), logged, impressions)


def assert_restart_replays_the_log(base: list[str], data: Path, after: Aftermath) -> None:
    """The killed server restarted on `data`: a retry of the acknowledged events (200 of them
    at most) counts as duplicates only, and after a clean stop the saved policy state has
    folded every logged event once and equals a replay of the log."""
    restarted = Server(base, free_port())
    page = after.pages[0]
    retry = [{"query_id": page["impression_id"], "action_name": "play", "object_id": page["hits"][0]["id"],
              "event_id": key} for key in after.acknowledged[:200]]
    status, report = post_json(f"{restarted.url}/feedback", retry)
    assert status == 200 and report["accepted"] == 0 and report["duplicates"] == len(retry)
    restarted.process.send_signal(signal.SIGINT)  # a clean stop saves the folded state
    restarted.process.wait(timeout=60)
    saved = json.loads((data / "policy" / "thompson.json").read_text())
    log = sqlite3.connect(data / "logs" / "feedback.sqlite3")
    last_seq = max(row[0] for row in log.execute("SELECT seq FROM events"))
    log.close()
    assert saved["log_seq"] == last_seq
    assert saved["learned"]["n_updates"] == len(after.logged)  # every play folded, once
    replay = subprocess.run([*base, "replay", "--json"], capture_output=True, timeout=300, check=True)
    report = json.loads(replay.stdout)
    assert report["state_equal"] is True
    assert report["events"] == len(after.logged) and report["duplicates_ignored"] == len(retry)
