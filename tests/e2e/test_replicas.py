"""Replicas share state through the data dir's feedback log: feedback sent to one `es-ltrr
serve` process reaches the other's policy and Q2E memory within the fold interval; and
`serve --workers 2` (gunicorn) serves searches and feedback."""

from __future__ import annotations

import json
import signal
import sys
import time

import pytest

from ..servers import Server, free_port, post_json

pytestmark = pytest.mark.slow
QUERY = "memorys maroonn fiv"
#: How long a replica may take to show what another logged: the fold interval is 1 s; the
#: rest is slack for a loaded CI machine (the tests poll, they do not time anything).
PATIENCE_S = 20.0


def eventually(check, patience: float = PATIENCE_S):
    """`check()`'s value once it is truthy, polling every 0.25 s; the last value after `patience`."""
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _q2e_ids(server: Server) -> list[str]:
    body = post_json(f"{server.url}/search", {"query": QUERY, "debug": True})[1]
    return next((r["ids"] for r in body["arm_results"] if r["arm"] == "q2e"), [])


def test_feedback_to_one_replica_reaches_the_other(small_catalog, tmp_path):
    import subprocess

    config = tmp_path / "es-ltrr.toml"
    # a short burn-in, and a rule that always runs the q2e arm (so B's memory can be seen)
    config.write_text("[policy_options]\nburn_in = 3\nforce = { q2e = 10 }\n")
    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"),
            "--no-embed", "--config", str(config)]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    a, b = (Server(base, free_port(), extra=["--memory-interval", "1"]),
            Server(base, free_port(), extra=["--memory-interval", "1"]))
    try:
        target = post_json(f"{a.url}/search", {"query": "memories maroon 5"})[1]["hits"][0]["id"]
        before = post_json(f"{b.url}/search", {"query": "rock", "debug": True})[1]["decision"]
        assert set(before) - {"q2e"}, before
        assert all("burn-in" in entry.get("forced", "") for arm, entry in before.items() if arm != "q2e")
        assert _q2e_ids(b)[:1] != [target]
        for user in range(20):
            qid = post_json(f"{a.url}/search", {"query": QUERY})[1]["impression_id"]
            status, _ = post_json(f"{a.url}/feedback", {"query_id": qid, "action_name": "play", "object_id": target,
                                                    "event_id": f"u{user}", "client_id": f"user-{user}"})
            assert status == 200
        def learned_decision():
            """B's decision for a search, once it no longer serves its burn-in (else None)."""
            d = post_json(f"{b.url}/search", {"query": "rock", "debug": True})[1]["decision"]
            return None if any("burn-in" in e.get("forced", "") for e in d.values()) else d

        after = eventually(learned_decision)
        assert after, "B still serves its burn-in: A's feedback did not reach it"
        assert after["q2e"]["forced"] == "rule: force"
        # past burn-in, the guard decides until it has evidence: B reports it, A's searches counted
        assert all(entry.get("forced", "").startswith("guard:") or "posterior_mean" in entry
                   for arm, entry in after.items() if arm != "q2e"), after
        assert eventually(lambda: _q2e_ids(b)[:1] == [target]), "B's q2e arm did not learn A's feedback"
    finally:
        for server in (a, b):
            server.process.send_signal(signal.SIGINT)
            server.process.wait(timeout=60)


def test_serve_with_two_workers(small_catalog, tmp_path):
    import subprocess

    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"),
            "--no-embed"]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    server = Server(base, free_port(), extra=["--workers", "2"])
    try:
        pages = [post_json(f"{server.url}/search", {"query": "rock"})[1] for _ in range(6)]
        events = [{"query_id": p["impression_id"], "action_name": "click", "object_id": p["hits"][0]["id"]}
                  for p in pages]
        status, report = post_json(f"{server.url}/feedback", events)
        assert status == 200 and report["accepted"] == 6
    finally:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
    counts = json.loads(subprocess.run([*base, "replay", "--json"], capture_output=True, check=True,
                                       timeout=300).stdout)
    assert counts["impressions"] == 6 and counts["events"] == 6


def test_simulate_through_the_http_api(small_catalog, tmp_path):
    """`es-ltrr simulate --http URL`: the users search the running server and post their clicks;
    the server's log holds exactly those events and its policy folded them."""
    import subprocess

    from click.testing import CliRunner

    from es_ltrr.cli import main

    config = tmp_path / "es-ltrr.toml"
    config.write_text("[policy_options]\nburn_in = 5\n")
    args = ["--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"), "--no-embed", "--config", str(config)]
    base = [sys.executable, "-m", "es_ltrr.cli", *args]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    server = Server(base, free_port())
    try:
        result = CliRunner().invoke(main, [*args, "simulate", "--http", server.url, "--queries", "40",
                                           "--report-queries", "10", "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        # the server's policy, the oracle, and every arm at its default depth as the baseline
        assert set(body["policies"]) == {"http", "oracle", "all_arms"}
        assert body["labels"]["http"] == "thompson (over HTTP)"
        for key in ("recall", "mrr", "ndcg10", "candidates", "regret"):
            assert key in body["policies"]["http"]
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
    replay = json.loads(subprocess.run([*base, "replay", "--json"], capture_output=True, check=True,
                                       timeout=300).stdout)
    assert replay["impressions"] == 50 and replay["events"] > 0 and replay["state_equal"] is True


def test_the_server_follows_model_activation_without_restart(small_catalog, tmp_path):
    """`es-ltrr train` (another process) activates a model: the running server ranks with it
    within its fold interval; `train --rollback` takes it back to fusion."""
    import subprocess

    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(tmp_path / "d"),
            "--no-embed"]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    server = Server(base, free_port())

    def ranker() -> str:
        return post_json(f"{server.url}/search", {"query": "rock"})[1]["ranker"]

    try:
        assert ranker() == "rrf"
        trained = subprocess.run([*base, "train", "--searches", "300", "--margin", "-1", "--json"], capture_output=True,
                                 timeout=600, check=True)
        model = json.loads(trained.stdout)["model"]
        assert eventually(lambda: ranker() == f"xgboost:{model}"), ranker()
        subprocess.run([*base, "train", "--rollback"], capture_output=True, timeout=300, check=True)
        assert eventually(lambda: ranker() == "rrf"), ranker()
    finally:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
