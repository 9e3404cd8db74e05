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


class Proxy:
    """A TCP forwarder from a local port to `target` ("host:port") that can be cut and restored:
    a cluster outage as the sidecar sees it (connections refused, open ones reset), without
    touching the node behind it."""

    def __init__(self, target: str):
        import threading

        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:  # wakes the thread blocked in accept(): a close alone would leave it listening
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
