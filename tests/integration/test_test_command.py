"""`bash scripts/test` (what .ci/run runs) fails when pytest collects nothing.

The script installs, starts both nodes and stops on exit the ones it started; here `python`
on PATH is a shim that answers those steps without doing them and runs only pytest for
real, so the running nodes are left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIM = """#!/bin/sh
case "$*" in
  "-m pip "*) exit 0 ;;
  "-m es_ltrr.cli node status --distribution elasticsearch") echo '{{"running": false}}'; exit 0 ;;
  "-m es_ltrr.cli node status --nodes 3") echo '{{"running": false}}'; exit 0 ;;
  "-m es_ltrr.cli node status"*) echo '{{"running": true}}'; exit 0 ;;
  "-m es_ltrr.cli node start"*) echo "starting (shim)"; echo "http://127.0.0.1:1"; exit 0 ;;
  "-m es_ltrr.cli node stop"*) echo "$*" >> "{log}"; exit 0 ;;
esac
exec {python} "$@"
"""


def _run_test_command(tmp_path: Path, *pytest_args: str) -> subprocess.CompletedProcess:
    shim = tmp_path / "python"
    shim.write_text(SHIM.format(python=sys.executable, log=tmp_path / "stopped.log"))
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "scripts/test", *pytest_args, "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_collecting_nothing_fails_with_a_clear_message(tmp_path):
    run = _run_test_command(tmp_path, "tests/unit/test_node_config.py", "-k", "no_such_test_anywhere")
    assert run.returncode == 5, run.stdout + run.stderr
    assert "error: pytest collected no tests" in run.stderr


def test_a_selection_that_collects_tests_passes(tmp_path):
    run = _run_test_command(tmp_path, "tests/unit/test_node_config.py", "-k", "unknown_distribution")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_only_the_nodes_it_started_are_stopped(tmp_path):
    """The shim says OpenSearch was already running, the 3-node cluster and Elasticsearch were not."""
    run = _run_test_command(tmp_path, "tests/unit/test_node_config.py", "-k", "unknown_distribution")
    assert run.returncode == 0, run.stdout + run.stderr
    stopped = (tmp_path / "stopped.log").read_text().splitlines()
    assert stopped == ["-m es_ltrr.cli node stop --nodes 3", "-m es_ltrr.cli node stop --distribution elasticsearch"]
