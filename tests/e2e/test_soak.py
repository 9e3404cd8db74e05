"""`es-ltrr bench --soak` runs end to end and reports (figures are benchmarks, not asserted here)."""

import json


def test_bench_soak_runs_and_reports(cli, tmp_path):
    out = tmp_path / "soak.json"
    result = cli("bench", "--soak", "--soak-requests", "200", "--concurrency", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "p99 last/first quarter" in result.stdout and "events acknowledged / in the log" in result.stdout
    report = json.loads(out.read_text())
    assert (report["searches"], report["events"], report["errors"]) == (200, 200, 0)
    assert sum(q["n"] for q in report["quarters"]["search"]) == 200
    # every event names a hit of its page under a unique event_id: all acknowledged, all logged
    assert report["events_acknowledged"] == report["events_logged"] == 200
    assert report["rss_mb"]["start"] > 0 and report["open_fds"]["end"] > 0


def test_bench_soak_refuses_a_cap_over_five_minutes(cli):
    result = cli("bench", "--soak", "--soak-seconds", "301")
    assert result.exit_code == 2 and "301" in result.stderr
