"""Real `es-ltrr serve` processes and local ports, for the e2e and integration tests that
talk to a server over a socket.

It exists so that no test module imports another: the kill, replica, signal and fault tests
(tests/e2e and tests/integration) and the tests that start a node or a server of their own
on a free port all take these from here.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the OS's pick; free when returned)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url: str, body) -> tuple[int, dict]:
    """POST `body` as JSON; the status and the decoded JSON answer, an HTTP error's too."""
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
