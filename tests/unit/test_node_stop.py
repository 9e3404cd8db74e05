"""`es-ltrr node stop --port` stops only the node answering on that port (issue 23, item 5:
`node stop --home H --port 9311` stopped the node of H on 9310).

The node is a stand-in: a Python process named like one (`opensearch` in its command line,
which is what the pid check looks for) answering `_nodes/_local/process` with its pid, as a
real node does, with its pid file in a home of its own. No real node is started or stopped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from es_ltrr.cli import main

from ..servers import free_port

FAKE_NODE = """
import http.server, json, os, sys
class Node(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"nodes": {"n1": {"process": {"id": os.getpid()}}}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Node).serve_forever()
"""


@pytest.fixture
def fake_node(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", FAKE_NODE, str(port), "opensearch"], start_new_session=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "node.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield home, port, process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def _stop(*args: str):
    return CliRunner().invoke(main, ["node", "stop", *args])


def test_stop_with_another_port_refuses_and_leaves_the_node_running(fake_node):
    home, port, process = fake_node
    other = free_port()
    result = _stop("--home", str(home), "--port", str(other))
    assert result.exit_code == 2, result.output
    assert f"port {other}" in result.stderr and str(home) in result.stderr
    time.sleep(0.5)
    assert process.poll() is None  # still running


def test_stop_with_the_node_s_own_port_stops_it(fake_node):
    home, port, process = fake_node
    result = _stop("--home", str(home), "--port", str(port))
    assert result.exit_code == 0 and result.stdout.strip() == "stopped", result.output
    assert process.wait(timeout=30) is not None


def test_stop_without_port_stops_the_node_of_its_home(fake_node):
    home, _, process = fake_node
    assert _stop("--home", str(home)).stdout.strip() == "stopped"
    assert process.wait(timeout=30) is not None


def test_stop_with_a_port_that_answers_for_another_home_says_so(fake_node, tmp_path):
    _, port, process = fake_node
    empty = tmp_path / "empty-home"
    result = _stop("--home", str(empty), "--port", str(port))
    assert result.exit_code == 2 and f"port {port}" in result.stderr, result.output
    assert process.poll() is None
    assert json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read())["nodes"]
