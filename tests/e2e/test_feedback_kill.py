"""kill -9 of a serving sidecar while searches and feedback are in flight: every acknowledged
event and every served impression is in the log after restart, a retry of the events is
counted as duplicates only, and the restarted server's policy state equals a replay of the
log (a real `es-ltrr serve` process, real signals). The same scenario runs against a real
OpenSearch node in tests/integration/test_faults.py."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Server:
    """A real `es-ltrr serve` process on `port`, ready (its /healthz answered) when built."""

    def __init__(self, base: list[str], port: int, extra: list[str] | None = None):
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([*base, "serve", "--port", str(port), *(extra or [])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                time.sleep(0.2)
        raise AssertionError("the server did not start")


def test_kill_9_loses_no_acknowledged_event(small_catalog, tmp_path):
    data = tmp_path / "data"
    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed"]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    kill_during_traffic(base, data)


def kill_during_traffic(base: list[str], data: Path) -> None:
    """`es-ltrr serve` (`base` + serve) SIGKILLed while searches and feedback are in flight,
    then restarted: every acknowledged event and every served impression is in the log, a
    retry of the events counts as duplicates only, and after a clean stop the saved policy
    state has folded every event once and equals a replay of the log."""
    server = Server(base, _free_port())
    pages = [_post(f"{server.url}/search", {"query": q})[1] for q in ("rock", "memories", "happy songs", "love")]
    acknowledged: list[str] = []
    served: list[str] = []

    def post_until_killed() -> None:
        for i in range(100_000):
            page = pages[i % len(pages)]
            event = {"query_id": page["impression_id"], "action_name": "play",
                     "object_id": page["hits"][i % len(page["hits"])]["id"], "event_id": f"ev-{i}"}
            try:
                status, _ = _post(f"{server.url}/feedback", event)
            except (OSError, http.client.HTTPException):  # a cut answer was never acknowledged
                return  # the server is gone
            assert status == 200
            acknowledged.append(event["event_id"])

    def search_until_killed() -> None:
        for i in range(100_000):
            try:
                status, body = _post(f"{server.url}/search", {"query": ("dance", "summer", "ed sheeran")[i % 3]})
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
    assert set(acknowledged) <= logged, f"{len(set(acknowledged) - logged)} acknowledged events lost"
    impressions = {row[0] for row in log.execute("SELECT id FROM impressions")}
    assert set(served) <= impressions, f"{len(set(served) - impressions)} served impressions lost"

    restarted = Server(base, _free_port())
    retry = [{"query_id": pages[0]["impression_id"], "action_name": "play", "object_id": pages[0]["hits"][0]["id"],
              "event_id": key} for key in acknowledged[:200]]
    status, report = _post(f"{restarted.url}/feedback", retry)
    assert status == 200 and report["accepted"] == 0 and report["duplicates"] == len(retry)
    restarted.process.send_signal(signal.SIGINT)  # a clean stop saves the folded state
    restarted.process.wait(timeout=60)
    saved = json.loads((data / "policy" / "thompson.json").read_text())
    assert saved["log_seq"] == max(row[0] for row in log.execute("SELECT seq FROM events"))
    assert saved["learned"]["n_updates"] == len(logged)  # every play folded, once
    replay = subprocess.run([*base, "replay", "--json"], capture_output=True, timeout=300, check=True)
    report = json.loads(replay.stdout)
    assert report["state_equal"] is True
    assert report["events"] == len(logged) and report["duplicates_ignored"] == len(retry)
