"""kill -9 of a serving sidecar while searches and feedback are in flight: every acknowledged
event and every served impression is in the log after restart, a retry of the events is
counted as duplicates only, and the restarted server's policy state equals a replay of the
log (a real `es-ltrr serve` process, real signals). The scenario is tests/sigkill.py's; it
runs against a real OpenSearch node too, in tests/integration/test_faults.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..sigkill import assert_restart_replays_the_log, kill_during_traffic

pytestmark = pytest.mark.slow


def test_kill_9_loses_no_acknowledged_event(small_catalog, tmp_path):
    data = tmp_path / "data"
    base = [sys.executable, "-m", "es_ltrr.cli", "--catalog", str(small_catalog), "--data-dir", str(data), "--no-embed"]
    subprocess.run([*base, "index"], check=True, capture_output=True, timeout=300)
    after = kill_during_traffic(base, data)
    lost = set(after.acknowledged) - after.logged
    assert len(after.acknowledged) >= 50 and not lost, f"{len(lost)} of {len(after.acknowledged)} acknowledged lost"
    assert len(after.served) >= 10 and set(after.served) <= after.impressions, "served impressions lost"
    assert_restart_replays_the_log(base, data, after)
